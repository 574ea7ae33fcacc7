// The SSH gate with the real OpenSSH client against a real node and real docker containers:
// exec with exit codes, stdout/stderr apart and stdin, a pty, 20 concurrent sessions, ssh -L
// to a server inside the container (100 MB intact), refusals that say nothing, sessions recorded
// and cut when the application is deallocated.
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import ssh2 from 'ssh2';
import { ShoalClient } from '../src/client/index.js';
import { connectEngine } from '../src/drivers/docker/engine.js';
import { buildTestImages, type TestImages } from '../src/drivers/docker/test-helpers/fixtures.js';
import { freePort } from './helpers/free-port.js';
import { startNodeProcess, type NodeProcess } from './helpers/node-process.js';
import { waitForState } from './helpers/wait.js';

interface Run {
  code: number | null;
  out: string;
  err: string;
}

describe('SSH gate: OpenSSH into docker containers', { timeout: 600_000 }, () => {
  const prefix = `ssh${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), `shoal-${prefix}-`));
  const docker = connectEngine('/var/run/docker.sock');
  let images: TestImages;
  let node: NodeProcess;
  let admin: ShoalClient;
  let ci: ShoalClient;
  let bob: ShoalClient;
  let app: string;
  const knownHosts = join(dir, 'known_hosts');
  const key = (name: string): string => {
    const file = join(dir, name);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${name}@test`, '-f', file]);
    return file;
  };
  let ciKey: string;
  let bobKey: string;
  let strangerKey: string;

  /** ssh with a pinned host key and one identity only */
  const sshArgs = (identity: string, user: string, extra: string[] = []): string[] => [
    '-p',
    String(node.sshPort),
    '-i',
    identity,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    `UserKnownHostsFile=${knownHosts}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'LogLevel=ERROR',
    ...extra,
    `${user}@127.0.0.1`,
  ];
  const ssh = (identity: string, user: string, args: string[], input?: Buffer | string, extra: string[] = []): Promise<Run> =>
    new Promise((resolve, reject) => {
      const p = spawn('ssh', [...sshArgs(identity, user, extra), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      p.stdout.on('data', (c: Buffer) => (out += c.toString()));
      p.stderr.on('data', (c: Buffer) => (err += c.toString()));
      const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
      p.on('error', reject);
      p.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, out, err });
      });
      p.stdin.end(input ?? '');
    });

  before(async () => {
    mkdirSync(join(dir, 'fixtures'));
    images = await buildTestImages(docker, join(dir, 'fixtures'), prefix);
    node = await startNodeProcess({
      dataDir: join(dir, 'node'),
      name: `ssh-${prefix}`,
      config: {
        capacity: { cpu: 16, ram: 16 },
        fetch: { allow_files: [join(dir, 'fixtures')] },
        drivers: { docker: { meta_port: await freePort(), stop_timeout: 1, cpu: 16, ram: 16 }, test: {} },
      },
    });
    const hostKey = readFileSync(join(dir, 'node', 'ssh', 'ssh_host_ed25519_key.pub'), 'utf8').split(' ');
    writeFileSync(knownHosts, `[127.0.0.1]:${node.sshPort} ${hostKey[0]} ${hostKey[1]}\n`);
    admin = new ShoalClient({ url: node.apiUrl, token: node.token });
    const ciToken = (await admin.createUser({ name: 'ci' })).token;
    const bobToken = (await admin.createUser({ name: 'bob' })).token;
    ci = new ShoalClient({ url: node.apiUrl, token: ciToken });
    bob = new ShoalClient({ url: node.apiUrl, token: bobToken });
    ciKey = key('ci');
    bobKey = key('bob');
    strangerKey = key('stranger');
    await ci.addUserKey('me', readFileSync(`${ciKey}.pub`, 'utf8'));
    await bob.addUserKey('me', readFileSync(`${bobKey}.pub`, 'utf8'));
    await admin.createLabel({
      name: 'box',
      definitions: [
        {
          driver: 'docker',
          options: { image: `${prefix}-img:1`, images: [images.rootfs], command: ['sleep', '3600'] },
          requirements: { cpu: 1, ram: 1, network: '' },
        },
      ],
    });
    app = (await ci.createApplication({ label: 'box' })).uid;
    await waitForState(ci, app, ['ALLOCATED'], 120_000);
  });
  after(async () => {
    await node?.kill();
    const left = await docker
      .listContainers({ all: true, filters: JSON.stringify({ label: [`shoal.node=ssh-${prefix}`] }) })
      .catch(() => []);
    for (const c of left)
      await docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => undefined);
    for (const img of [...(images?.createdImages ?? []), `${prefix}-img:1`])
      await docker
        .getImage(img)
        .remove({ force: true })
        .catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('the host key is made once in DATA_DIR and its fingerprint is printed at start and shown by the node', async () => {
    const fp = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', join(dir, 'node', 'ssh', 'ssh_host_ed25519_key.pub')], {
      encoding: 'utf8',
    }).split(' ')[1]!;
    assert.match(node.output(), new RegExp(`SSH gate  127\\.0\\.0\\.1:${node.sshPort} \\(host key ${fp.replace(/[+/]/g, '\\$&')}\\)`));
    const info = await ci.thisNode();
    assert.deepEqual(info.ssh_gate, { address: `127.0.0.1:${node.sshPort}`, fingerprint: fp });
  });

  it('exec: stdout and stderr apart, the exit status, stdin to EOF', async () => {
    const r = await ssh(ciKey, app, ['echo to-out; echo to-err >&2; exit 42']);
    assert.equal(r.code, 42, r.err);
    assert.equal(r.out, 'to-out\n');
    assert.equal(r.err, 'to-err\n');
    const input = randomBytes(1_000_000);
    const sum = await ssh(ciKey, app, ['sha256sum'], input);
    assert.equal(sum.code, 0, sum.err);
    assert.equal(sum.out.split(' ')[0], createHash('sha256').update(input).digest('hex'));
    const ok = await ssh(ciKey, app, ['true']);
    assert.equal(ok.code, 0);
  });

  it('a shell with a pty (ssh -tt): a terminal in the container, and its window size follows a resize', async () => {
    const r = await ssh(ciKey, app, [], 'tty; echo "TERM=$TERM"; exit 3\n', ['-tt']);
    assert.equal(r.code, 3, r.err);
    assert.match(r.out, /\/dev\/pts\/\d+/);
    // a window-change from an SSH client (ssh2's): stty size inside follows it
    const c = new ssh2.Client();
    await new Promise<void>((resolve, reject) => {
      c.on('ready', resolve).on('error', reject);
      c.connect({ host: '127.0.0.1', port: node.sshPort, username: app, privateKey: readFileSync(ciKey) });
    });
    const seen = await new Promise<string>((resolve, reject) => {
      c.shell({ term: 'xterm', cols: 80, rows: 24 }, (err, ch) => {
        if (err) return reject(err);
        let out = '';
        ch.on('data', (d: Buffer) => {
          out += d.toString();
          if (/24 80/.test(out) && !out.includes('RESIZED')) {
            out += 'RESIZED';
            ch.setWindow(40, 120, 0, 0);
            setTimeout(() => ch.write('stty size; exit\n'), 300);
          }
        });
        ch.on('close', () => resolve(out));
        ch.write('stty size\n');
      });
    });
    c.end();
    assert.match(seen, /24 80[\s\S]*RESIZED[\s\S]*40 120/, JSON.stringify(seen));
  });

  it('20 concurrent sessions each get their own answer', async () => {
    const runs = await Promise.all(Array.from({ length: 20 }, (_, i) => ssh(ciKey, app, [`echo session-${i}; exit ${i}`])));
    runs.forEach((r, i) => {
      assert.equal(r.code, i, r.err);
      assert.equal(r.out, `session-${i}\n`);
    });
  });

  it('ssh -L to a server inside the container carries 100 MB intact; other hosts are refused', async () => {
    const port = 9000 + (randomBytes(1)[0]! % 100);
    // a one-shot sink in the container: it writes what it got through sha256sum to a file
    const start = await ssh(ciKey, app, [`(sleep 600 | nc -l -p ${port} | sha256sum > /tmp/got.sum) </dev/null >/dev/null 2>&1 &`]);
    assert.equal(start.code, 0, start.err);
    const local = await freePort();
    const fwd = spawn(
      'ssh',
      [...sshArgs(ciKey, app, ['-N', '-L', `127.0.0.1:${local}:localhost:${port}`, '-o', 'ExitOnForwardFailure=yes'])],
      {
        stdio: 'ignore',
      },
    );
    try {
      const payload = randomBytes(100 * 1024 * 1024);
      let sent = false;
      for (let i = 0; i < 100 && !sent; i++) {
        sent = await new Promise<boolean>((resolve) => {
          const s = connect(local, '127.0.0.1');
          s.on('error', () => setTimeout(() => resolve(false), 100));
          s.on('connect', () => {
            s.end(payload);
            s.on('close', () => resolve(true));
          });
        });
      }
      assert.ok(sent, 'the forward never accepted');
      let sum = '';
      for (let i = 0; i < 100 && !/^[0-9a-f]{64}/.test(sum); i++) {
        await new Promise((r) => setTimeout(r, 200));
        sum = (await ssh(ciKey, app, ['cat /tmp/got.sum 2>/dev/null'])).out;
      }
      assert.equal(sum.split(' ')[0], createHash('sha256').update(payload).digest('hex'), '100 MB arrived intact');
    } finally {
      fwd.kill();
    }
    // ssh -W to somewhere that is not the environment itself: refused
    const w = await ssh(ciKey, app, [], '', ['-W', '10.255.255.1:80']);
    assert.notEqual(w.code, 0);
    assert.match(w.err, /administratively prohibited|open failed|forwarding failed|refused/i);
  });

  it("another user's key, an unknown key, an unknown uid and a user name that is no uid are refused alike", async () => {
    for (const [identity, user] of [
      [bobKey, app],
      [strangerKey, app],
      [ciKey, '00000000-0000-4000-8000-000000000000'],
      [ciKey, 'root'],
    ] as const) {
      const r = await ssh(identity, user, ['true']);
      assert.equal(r.code, 255, `${user}: ${r.err}`);
      assert.match(r.err, /Permission denied \(publickey\)/);
    }
    // an admin's key gets in
    const adminKey = key('admin');
    await admin.addUserKey('me', readFileSync(`${adminKey}.pub`, 'utf8'));
    assert.equal((await ssh(adminKey, app, ['echo admin-in'])).out, 'admin-in\n');
  });

  it('sessions are recorded: who, from where, kind, exit status, bytes', async () => {
    const sessions = await ci.listSessions(app);
    const failed = sessions.find((s) => s.kind === 'exec' && s.exit_status === 42);
    assert.ok(failed, JSON.stringify(sessions));
    assert.equal(failed.user, 'ci');
    assert.equal(failed.via, 'ssh');
    assert.match(failed.source, /^127\.0\.0\.1:\d+$/);
    assert.ok(failed.ended_at && failed.ended_at >= failed.started_at);
    assert.equal(failed.bytes_out, 'to-out\n'.length + 'to-err\n'.length);
    const sum = sessions.find((s) => s.kind === 'exec' && s.bytes_in === 1_000_000);
    assert.ok(sum, `the stdin session counted its bytes in: ${JSON.stringify(sessions)}`);
    assert.ok(
      sessions.some((s) => s.kind === 'port-forward' && s.bytes_in >= 100 * 1024 * 1024),
      'the port-forward counted its bytes in',
    );
    assert.ok(
      sessions.some((s) => s.kind === 'shell' && s.exit_status === 3),
      'the shell session has its exit status',
    );
    assert.ok(
      sessions.some((s) => s.user === 'admin'),
      "the admin's session names the admin",
    );
    await assert.rejects(bob.listSessions(app), /not found/i);
  });

  it('a session is cut when the application is deallocated, and a deallocated application is refused', async () => {
    const p = spawn('ssh', [...sshArgs(ciKey, app), 'echo started; sleep 600'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const code = new Promise<number | null>((resolve) => p.on('close', resolve));
    await new Promise<void>((resolve) => {
      p.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('started')) resolve();
      });
    });
    await ci.deallocate(app);
    const r = { code: await code, out, err };
    assert.equal(r.out, 'started\n');
    assert.notEqual(r.code, 0);
    await waitForState(ci, app, ['DEALLOCATED'], 60_000);
    const after = await ssh(ciKey, app, ['true']);
    assert.equal(after.code, 255);
    assert.match(after.err, /Permission denied \(publickey\)/);
  });
});
