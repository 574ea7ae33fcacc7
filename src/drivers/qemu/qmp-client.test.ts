import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { QmpClient, QmpError } from './qmp-client.js';
import { removeDir, tempDataDir } from './test-support.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function connectWhenReady(path: string): Promise<QmpClient> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return await QmpClient.connect(path, { timeoutMs: 10_000 });
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(50);
    }
  }
}

/** A unix socket server speaking just enough QMP to test timeouts. */
async function fakeQmp(path: string, mode: 'silent' | 'greet-only'): Promise<Server> {
  const server = createServer((sock) => {
    if (mode === 'silent') return;
    sock.write('{"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0}, "package": ""}, "capabilities": []}}\n');
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl)) as { execute: string; id: string };
        buf = buf.slice(nl + 1);
        if (msg.execute === 'qmp_capabilities') sock.write(`${JSON.stringify({ return: {}, id: msg.id })}\n`);
        // everything else: never answered
      }
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  return server;
}

describe('QMP client', { timeout: 120_000 }, () => {
  let dir: string;
  let qemu: ChildProcess | undefined;
  let qmpPath: string;

  before(async () => {
    dir = await tempDataDir('qmp');
    qmpPath = join(dir, 'qmp.sock');
    // a real QEMU with no machine, paused: starts in milliseconds and speaks real QMP
    qemu = spawn(
      'qemu-system-x86_64',
      ['-machine', 'none', '-S', '-nodefaults', '-display', 'none', '-qmp', `unix:${qmpPath},server=on,wait=off`],
      {
        stdio: 'ignore',
      },
    );
  });

  after(async () => {
    if (qemu && qemu.exitCode === null) {
      qemu.kill('SIGKILL');
      await new Promise((r) => qemu!.once('exit', r));
    }
    await removeDir(dir);
  });

  it('reads the greeting, negotiates capabilities and runs commands matched by id', async () => {
    const qmp = await connectWhenReady(qmpPath);
    try {
      assert.ok(qmp.greeting.version.qemu.major >= 2, 'greeting carries the QEMU version');
      const [status, version, name] = await Promise.all([
        qmp.execute<{ status: string; running: boolean }>('query-status'),
        qmp.execute<{ qemu: { major: number } }>('query-version'),
        qmp.execute<Record<string, unknown>>('query-name'),
      ]);
      assert.equal(status.status, 'prelaunch');
      assert.equal(status.running, false);
      assert.equal(version.qemu.major, qmp.greeting.version.qemu.major);
      assert.deepEqual(name, {});
    } finally {
      qmp.close();
    }
  });

  it('rejects a failing command with the QMP error class, and the connection stays usable', async () => {
    const qmp = await connectWhenReady(qmpPath);
    try {
      await assert.rejects(
        qmp.execute('no-such-command'),
        (err: unknown) => err instanceof QmpError && err.errorClass === 'CommandNotFound',
      );
      await assert.rejects(qmp.execute('human-monitor-command', { 'command-line': 42 }), (err: unknown) => err instanceof QmpError);
      const status = await qmp.execute<{ status: string }>('query-status');
      assert.equal(status.status, 'prelaunch');
    } finally {
      qmp.close();
    }
  });

  it('delivers events (cont → RESUME, stop → STOP)', async () => {
    const qmp = await connectWhenReady(qmpPath);
    try {
      const resumed = qmp.waitEvent('RESUME', 10_000);
      await qmp.execute('cont');
      const ev = await resumed;
      assert.equal(ev.event, 'RESUME');
      assert.ok(ev.timestamp && ev.timestamp.seconds > 0);
      await qmp.execute('stop');
      const stopped = await qmp.waitEvent('STOP', 10_000);
      assert.equal(stopped.event, 'STOP');
      assert.equal((await qmp.execute<{ status: string }>('query-status')).status, 'paused');
    } finally {
      qmp.close();
    }
  });

  it('rejects pending commands when QEMU goes away (quit)', async () => {
    const qmp = await connectWhenReady(qmpPath);
    const shutdown = qmp.waitEvent('SHUTDOWN', 10_000);
    await qmp.execute('quit');
    assert.equal((await shutdown).event, 'SHUTDOWN');
    await new Promise((r) => (qemu!.exitCode === null ? qemu!.once('exit', r) : r(undefined)));
    await assert.rejects(qmp.execute('query-status'), (err: unknown) => err instanceof QmpError && err.errorClass === 'Closed');
    assert.equal(qmp.closed, true);
  });

  it('times out: no greeting, and a command without an answer', async () => {
    const silent = await fakeQmp(join(dir, 'silent.sock'), 'silent');
    const greetOnly = await fakeQmp(join(dir, 'greet.sock'), 'greet-only');
    try {
      await assert.rejects(
        QmpClient.connect(join(dir, 'silent.sock'), { timeoutMs: 300 }),
        (err: unknown) => err instanceof QmpError && err.errorClass === 'Timeout',
      );
      const qmp = await QmpClient.connect(join(dir, 'greet.sock'), { timeoutMs: 2_000 });
      try {
        await assert.rejects(
          qmp.execute('query-status', undefined, { timeoutMs: 300 }),
          (err: unknown) => err instanceof QmpError && err.errorClass === 'Timeout',
        );
        await assert.rejects(qmp.waitEvent('RESUME', 200), (err: unknown) => err instanceof QmpError && err.errorClass === 'Timeout');
      } finally {
        qmp.close();
      }
      await assert.rejects(
        QmpClient.connect(join(dir, 'nobody.sock'), { timeoutMs: 1_000 }),
        (err: unknown) => err instanceof QmpError && err.errorClass === 'Closed',
      );
    } finally {
      silent.close();
      greetOnly.close();
    }
  });
});
