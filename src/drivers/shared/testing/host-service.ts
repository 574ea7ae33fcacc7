/**
 * Targets on the node host for reach tests: what an environment must NOT be able to connect to.
 * Shared by the qemu network tests and the docker reach tests behind a real node.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';

export interface HostService {
  /** host:port */
  target: string;
  /** connections it has accepted so far */
  hits: () => number;
  close: () => Promise<void>;
}

/** An HTTP service on this host at `host` that counts the connections it gets. */
export async function hostService(host: string): Promise<HostService> {
  let hits = 0;
  const server = http.createServer((_req, res) => res.end('host service'));
  server.on('connection', () => hits++);
  await new Promise<void>((r) => server.listen(0, host, r));
  return {
    target: `${host}:${(server.address() as AddressInfo).port}`,
    hits: () => hits,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** One of the host's own non-loopback IPv4 addresses (not a bridge, VM link or veth of ours or Docker's). */
export function hostAddress(): string {
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (/^(lo|docker|br-|shl|shq|shn|veth|sho)/.test(name)) continue;
    const a = addrs?.find((x) => x.family === 'IPv4' && !x.internal);
    if (a) return a.address;
  }
  throw new Error('the host has no non-loopback IPv4 address to test with');
}
