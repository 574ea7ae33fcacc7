// A child process that opens many idle TCP connections (sending nothing) to host:port from the
// given loopback source addresses, reports once on stdout as one JSON line, then holds what stays
// open until its stdin closes (the test ends it). Run as a separate process so that the test's own
// process keeps its file descriptors. Bounded: `count` attempts, `maxMs` for all of them.
//   node idle-connections.js HOST PORT COUNT MAX_MS ADDR[,ADDR…]
import { connect, type Socket } from 'node:net';

const [host = '127.0.0.1', portArg = '0', countArg = '0', maxMsArg = '30000', addrArg = '127.0.0.1'] = process.argv.slice(2);
const port = Number(portArg);
const count = Number(countArg);
const deadline = Date.now() + Number(maxMsArg);
const addresses = addrArg.split(',');
const IN_FLIGHT = 400;

let started = 0;
let settled = 0;
let connected = 0;
let closedByPeer = 0;
let failed = 0;
const open = new Set<Socket>();

function next(): void {
  if (started >= count || Date.now() > deadline) return;
  const i = started++;
  const s = connect({ host, port, localAddress: addresses[i % addresses.length] });
  let wasOpen = false;
  s.on('connect', () => {
    wasOpen = true;
    connected++;
    open.add(s);
    settled++;
    next();
  });
  s.on('error', () => undefined);
  s.on('close', () => {
    open.delete(s);
    if (wasOpen) closedByPeer++;
    else {
      failed++;
      settled++;
      next();
    }
  });
}

for (let i = 0; i < IN_FLIGHT; i++) next();
const timer = setInterval(() => {
  if (settled >= count || Date.now() > deadline) {
    clearInterval(timer);
    // give the server a moment to close what it refused, measured by events: report after the
    // next turn of the loop (closes already delivered are counted)
    setImmediate(() => {
      process.stdout.write(`${JSON.stringify({ attempted: started, connected, closedByPeer, failed, stillOpen: open.size })}\n`);
    });
  }
}, 50);
process.stdin.resume();
process.stdin.on('end', () => {
  for (const s of open) s.destroy();
  process.exit(0);
});
