import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { TestContext } from 'node:test';
import { it } from 'node:test';
import type { ExecProcess, ResourceAccess } from '../access.js';
import type { ResourceDriver } from '../driver.js';
import { asDriverError } from './expect-driver-error.js';

/** What the access checks need from the suite around them. */
export interface AccessSuite {
  driver(): ResourceDriver;
  /** hwaddr of a live allocation */
  allocated(): string;
  unknownHwaddr(): string;
  /** a command that starts a TCP echo server on `port` in the environment and returns (absent: the port test is skipped) */
  echoServer?: (port: number) => string[];
  /** the driver refuses access by design: assert the refusal instead of running the access checks */
  refused?: boolean;
  timeout: number;
}

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks);
}

/** One regular file in a ustar archive (what copyIn takes), built by hand: the contract imports nothing. */
function tarOf(name: string, content: Buffer): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${content.length.toString(8).padStart(11, '0')}\0`, 124);
  h.write(
    `${Math.floor(Date.now() / 1000)
      .toString(8)
      .padStart(11, '0')}\0`,
    136,
  );
  h.write('        ', 148);
  h.write('0', 156);
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const pad = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([h, content, pad, Buffer.alloc(1024)]);
}

/** The content of the regular file `name` in a tar archive (ustar headers, no extensions needed). */
function fileInTar(tar: Buffer, name: string): Buffer | undefined {
  let off = 0;
  while (off + 512 <= tar.length) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) return undefined;
    const entry = h.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(h.subarray(124, 136).toString('ascii').replace(/\0.*$/s, '').trim() || '0', 8);
    off += 512;
    if (entry.replace(/^\.?\//, '') === name) return tar.subarray(off, off + size);
    off += Math.ceil(size / 512) * 512;
  }
  return undefined;
}

/**
 * The optional access part (contract/access.ts), checked on a live allocation: a named skip when
 * the driver has none, or when it answers UNSUPPORTED (the reason is shown).
 */
export function describeAccess(s: AccessSuite): void {
  const { timeout } = s;
  if (s.refused === true) {
    it('access: every call is refused with UNSUPPORTED and a reason (the driver has no environment to enter)', { timeout }, async () => {
      const acc = s.driver().access;
      assert.ok(acc, 'a driver that refuses access still has the access part, answering UNSUPPORTED');
      const hw = s.allocated();
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['exec', () => acc.exec(hw, { command: ['true'], tty: false })],
        ['connectPort', () => acc.connectPort(hw, 22)],
        ['copyIn', () => acc.copyIn(hw, '/', Readable.from([tarOf('x', Buffer.from('x'))]))],
        ['copyOut', () => acc.copyOut(hw, '/')],
      ];
      for (const [name, call] of calls) {
        await assert.rejects(call(), (err: unknown) => {
          const e = asDriverError(err, `access.${name}`);
          assert.equal(e.code, 'UNSUPPORTED', `access.${name}: ${e.code} ${e.message}`);
          assert.ok(e.message.length > 20, `access.${name}: an UNSUPPORTED refusal says why`);
          return true;
        });
      }
    });
    return;
  }

  /** the access part, or undefined after a named skip */
  async function access(t: TestContext): Promise<ResourceAccess | undefined> {
    const acc = s.driver().access;
    if (!acc) {
      t.skip('the driver has no access part (optional)');
      return undefined;
    }
    try {
      const p = await acc.exec(s.allocated(), { command: ['true'], tty: false });
      await p.exit;
    } catch (err) {
      const e = asDriverError(err, 'access.exec(true)');
      if (e.code === 'UNSUPPORTED') {
        assert.ok(e.message.length > 20, 'an UNSUPPORTED refusal says why');
        t.skip(`the driver answers UNSUPPORTED: ${e.message}`);
        return undefined;
      }
      throw err;
    }
    return acc;
  }

  async function run(p: ExecProcess, input?: Buffer): Promise<{ out: string; err: string; code: number | null }> {
    if (input) p.stdin.end(input);
    const [out, err, code] = await Promise.all([collect(p.stdout), collect(p.stderr), p.exit]);
    return { out: out.toString('utf8'), err: err.toString('utf8'), code };
  }

  it('access: exec keeps stdout and stderr apart and reports the exit status', { timeout }, async (t) => {
    const acc = await access(t);
    if (!acc) return;
    const p = await acc.exec(s.allocated(), { command: ['sh', '-c', 'echo to-out; echo to-err >&2; exit 7'], tty: false });
    p.stdin.end();
    const r = await run(p);
    assert.equal(r.out, 'to-out\n');
    assert.equal(r.err, 'to-err\n');
    assert.equal(r.code, 7);
  });

  it('access: exec reads stdin to EOF', { timeout }, async (t) => {
    const acc = await access(t);
    if (!acc) return;
    const input = randomBytes(300_000);
    const p = await acc.exec(s.allocated(), { command: ['wc', '-c'], tty: false });
    const r = await run(p, input);
    assert.equal(r.out.trim(), String(input.length));
    assert.equal(r.code, 0);
  });

  it('access: exec with a tty follows a resize', { timeout }, async (t) => {
    const acc = await access(t);
    if (!acc) return;
    const p = await acc.exec(s.allocated(), { command: ['sh', '-c', 'stty size; read x; stty size'], tty: true, cols: 80, rows: 24 });
    let seen = '';
    const first = new Promise<void>((resolve) => {
      p.stdout.on('data', (c: Buffer) => {
        seen += c.toString('utf8');
        if (/24 80/.test(seen)) resolve();
      });
    });
    await Promise.race([first, p.exit]); // a process that never prints the size ends (read fails) or times out the test
    assert.match(seen, /24 80/, `the terminal had the size asked for at the start: ${JSON.stringify(seen)}`);
    await p.resize(132, 43);
    p.stdin.write('\n');
    const code = await p.exit;
    await new Promise((r) => setImmediate(r));
    assert.match(seen, /24 80[\s\S]*43 132/, `stty size before and after the resize: ${JSON.stringify(seen)}`);
    assert.equal(code, 0);
  });

  it('access: copyIn puts a file in, copyOut brings it back', { timeout }, async (t) => {
    const acc = await access(t);
    if (!acc) return;
    const name = `shoal-cnf-${randomBytes(4).toString('hex')}.bin`;
    const content = randomBytes(70_000);
    await acc.copyIn(s.allocated(), '/tmp', Readable.from([tarOf(name, content)]));
    const p = await acc.exec(s.allocated(), { command: ['wc', '-c', `/tmp/${name}`], tty: false });
    p.stdin.end();
    assert.match((await run(p)).out, new RegExp(`^\\s*${content.length}\\s`), 'the file is in the environment with its size');
    const back = fileInTar(await collect(await acc.copyOut(s.allocated(), `/tmp/${name}`)), name);
    assert.ok(back, 'copyOut gives a tar archive holding the file');
    assert.ok(back.equals(content), 'the file came back intact');
  });

  it('access: connectPort reaches a port of the environment itself', { timeout }, async (t) => {
    const acc = await access(t);
    if (!acc) return;
    if (!s.echoServer) return void t.skip('the test file gives no echoServer command');
    const port = 20_000 + (randomBytes(2).readUInt16BE(0) % 20_000);
    const start = await acc.exec(s.allocated(), { command: s.echoServer(port), tty: false });
    start.stdin.end();
    await run(start);
    let sock: import('node:stream').Duplex | undefined;
    for (let i = 0; i < 50 && !sock; i++) {
      sock = await acc.connectPort(s.allocated(), port).catch(async () => {
        await new Promise((r) => setTimeout(r, 100));
        return undefined;
      });
    }
    assert.ok(sock, `port ${port} of the environment never accepted`);
    const payload = randomBytes(50_000);
    const back: Buffer[] = [];
    let got = 0;
    await new Promise<void>((resolve, reject) => {
      sock.on('data', (c: Buffer) => {
        back.push(c);
        got += c.length;
        if (got >= payload.length) resolve();
      });
      sock.on('error', reject);
      sock.write(payload);
    });
    sock.destroy();
    assert.ok(Buffer.concat(back).subarray(0, payload.length).equals(payload), 'the echo came back intact');
  });

  it('access: an unknown hwaddr is NOT_FOUND for exec and connectPort', { timeout }, async (t) => {
    const acc = await access(t);
    if (!acc) return;
    for (const call of [
      () => acc.exec(s.unknownHwaddr(), { command: ['true'], tty: false }),
      () => acc.connectPort(s.unknownHwaddr(), 80),
    ]) {
      await assert.rejects(call(), (err: unknown) => asDriverError(err, 'unknown hwaddr').code === 'NOT_FOUND');
    }
  });
}
