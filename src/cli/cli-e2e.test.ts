import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

/**
 * End to end: a real `shoal serve` (spawned through bin/shoal.js, as a user would) on free
 * loopback ports in a temp dir, and the CLI run as separate processes against it, with and
 * without TLS. Also runs the five-minute tour of docs/cli.md verbatim (ports substituted).
 */

const ROOT = new URL('../../../', import.meta.url).pathname; // dist/src/cli → repo root
const BIN = join(ROOT, 'bin', 'shoal.js');
const START_TIMEOUT_MS = 90_000;
const CMD_TIMEOUT_MS = 120_000;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

interface Served {
  proc: ChildProcess;
  apiUrl: string;
  metaPort: number;
  output(): string;
  /** SIGTERM; resolves to the exit code */
  stop(): Promise<number | null>;
}

/**
 * `shoal serve` in `cwd` (data in ./shoal-data), waiting until it says how to log in. Only the
 * test driver runs (a config file says so): these tests are about the CLI, and must not touch
 * the Docker daemon or QEMU that other tests use at the same time.
 */
async function serve(cwd: string, tls: boolean): Promise<Served> {
  const apiPort = await freePort();
  const metaPort = await freePort();
  const sshPort = await freePort();
  const config = join(cwd, 'test-node.yml');
  await writeFile(config, 'drivers:\n  test: {}\n');
  const args = [
    BIN,
    'serve',
    '-c',
    config,
    '--api',
    `127.0.0.1:${apiPort}`,
    '--meta',
    `127.0.0.1:${metaPort}`,
    '--ssh',
    `127.0.0.1:${sshPort}`,
    ...(tls ? [] : ['--no-tls']),
  ];
  const proc = spawn(process.execPath, args, { cwd, env: { ...process.env, SHOAL_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const ready = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), START_TIMEOUT_MS);
    const check = (): void => {
      if (out.includes('log in from another terminal')) {
        clearTimeout(timer);
        resolve(true);
      }
    };
    proc.stdout.on('data', check);
    proc.stderr.on('data', check);
    void exited.then(() => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  if (!ready) {
    proc.kill('SIGKILL');
    await exited;
    throw new Error(`shoal serve did not start:\n${out}`);
  }
  return {
    proc,
    apiUrl: `${tls ? 'https' : 'http'}://127.0.0.1:${apiPort}`,
    metaPort,
    output: () => out,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 60_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; input?: string }): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const proc = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => proc.kill('SIGKILL'), CMD_TIMEOUT_MS);
    proc.on('error', reject);
    proc.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    proc.stdin.end(opts.input ?? '');
  });
}

/** GET from the Meta API with `source` as the source address (as the resource would call it). */
function metaGet(port: number, source: string, path = '/meta/v1/data'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, localAddress: source, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('meta request timed out')));
    req.on('error', reject);
    req.end();
  });
}

const LABEL_YAML = `name: tiny
definitions:
  - driver: test
    requirements: {cpu: 1, ram: 1}
metadata:
  GREETING: hello
  JOB: from-label
lifetime: 1h
`;

const FAILING_LABEL_JSON = JSON.stringify({
  name: 'broken',
  definitions: [{ driver: 'test', options: { fail_allocate: 255 }, requirements: { cpu: 1, ram: 1 } }],
});

for (const tls of [false, true]) {
  describe(`shoal CLI end to end against a real node (${tls ? 'TLS' : 'plain HTTP'})`, () => {
    let dir: string;
    let node: Served;
    let env: NodeJS.ProcessEnv;
    let uid = '';
    const shoal = (args: string[], input?: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<Ran> =>
      run(process.execPath, [BIN, ...args], { cwd: dir, env: { ...env, ...extraEnv }, ...(input !== undefined ? { input } : {}) });
    const json = <T>(r: Ran): T => {
      assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
      return JSON.parse(r.stdout) as T;
    };

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'shoal-cli-e2e-'));
      const { SHOAL_URL: _u, SHOAL_TOKEN: _t, SHOAL_USER: _s, SHOAL_CA: _c, ...clean } = process.env;
      env = { ...clean, SHOAL_CONFIG: join(dir, 'home', 'shoal.json'), HOME: join(dir, 'home') };
      node = await serve(dir, tls);
    });
    after(async () => {
      await node?.stop();
      await rm(dir, { recursive: true, force: true });
    });

    it('login picks up ./shoal-data (token and, with TLS, the CA) and saves a 0600 config', async () => {
      const r = await shoal(['--url', node.apiUrl, 'login', '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as { name: string }).name, 'admin');
      assert.match(r.stderr, /using the admin token from \.\/shoal-data\/admin\.token/);
      if (tls) assert.match(r.stderr, /trusting the node's CA from \.\/shoal-data\/tls\/ca\.crt/);
      assert.equal((await stat(env.SHOAL_CONFIG!)).mode & 0o777, 0o600);
      const saved = JSON.parse(await readFile(env.SHOAL_CONFIG!, 'utf8')) as { url: string; ca?: string; user: string; token: string };
      assert.equal(saved.url, node.apiUrl);
      assert.equal(saved.user, 'admin');
      assert.equal(saved.token, (await readFile(join(dir, 'shoal-data', 'admin.token'), 'utf8')).trim());
      assert.equal(saved.ca === undefined, !tls);
    });

    it('login with a wrong token fails (exit 1, UNAUTHORIZED)', async () => {
      const r = await shoal(['--url', node.apiUrl, '--user', 'admin', '--token', 'not-the-token', 'login'], undefined, {
        SHOAL_CONFIG: join(dir, 'other.json'),
      });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^error: UNAUTHORIZED: /m);
      await assert.rejects(stat(join(dir, 'other.json')), { code: 'ENOENT' });
    });

    it('user create prints the token once; the new user can authenticate with it', async () => {
      const created = json<{ name: string; role: string; token: string }>(await shoal(['user', 'create', 'ci', '--json']));
      assert.equal(created.name, 'ci');
      assert.equal(created.role, 'user');
      assert.ok(created.token.length >= 16);
      const list = json<{ items: Array<{ name: string }> }>(await shoal(['user', 'list', '--json']));
      assert.deepEqual(list.items.map((u) => u.name).sort(), ['admin', 'ci']);
      const me = json<{ name: string }>(await shoal(['--user', 'ci', '--token', created.token, 'user', 'show', 'me', '--json']));
      assert.equal(me.name, 'ci');
      const again = await shoal(['user', 'create', 'ci']);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /^error: CONFLICT: .*ci/m);
    });

    it('label create -f reads YAML from a file and JSON from stdin', async () => {
      await writeFile(join(dir, 'tiny.yml'), LABEL_YAML);
      const label = json<{ uid: string; name: string; version: number }>(await shoal(['label', 'create', '-f', 'tiny.yml', '--json']));
      assert.equal(label.name, 'tiny');
      assert.equal(label.version, 1);
      const broken = json<{ name: string }>(await shoal(['label', 'create', '-f', '-', '--json'], FAILING_LABEL_JSON));
      assert.equal(broken.name, 'broken');
      const shown = json<{ uid: string }>(await shoal(['label', 'show', 'tiny:1', '--json']));
      assert.equal(shown.uid, label.uid);
      const table = await shoal(['label', 'list']);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, /^NAME\s+VERSION\s+UID/);
      assert.match(table.stdout, /\ntiny\s+1\s+/);
    });

    it('label owner shows who owns a name; an admin gives it away; only the owner then publishes', async () => {
      const dev = json<{ token: string }>(await shoal(['user', 'create', 'dev', '--json']));
      const asDev = (args: string[], input?: string): Promise<Ran> => shoal(['--user', 'dev', '--token', dev.token, ...args], input);
      await writeFile(join(dir, 'owned.yml'), LABEL_YAML.replace('name: tiny', 'name: owned'));
      assert.equal((await shoal(['label', 'create', '-f', 'owned.yml'])).code, 0);
      const shown = await shoal(['label', 'owner', 'owned']);
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(shown.stdout, /label name owned is owned by admin/);
      // dev may not publish admin's name, nor take it
      const refused = await asDev(['label', 'create', '-f', 'owned.yml']);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /^error: FORBIDDEN: .*belongs to admin/m);
      const taken = await asDev(['label', 'owner', 'owned', '--set', 'dev']);
      assert.equal(taken.code, 1);
      assert.match(taken.stderr, /^error: FORBIDDEN: /m);
      // the admin gives it to dev: dev publishes version 2 and owns it
      const given = json<{ name: string; owner: string }>(await shoal(['label', 'owner', 'owned', '--set', 'dev', '--json']));
      assert.deepEqual([given.name, given.owner], ['owned', 'dev']);
      const v2 = json<{ version: number; owner: string }>(await asDev(['label', 'create', '-f', 'owned.yml', '--json']));
      assert.deepEqual([v2.version, v2.owner], [2, 'dev']);
      const unknown = await shoal(['label', 'owner', 'no-such-name']);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /^error: NOT_FOUND: /m);
    });

    it('user token create|list|revoke and user delete --force work against the node', async () => {
      const bot = json<{ token: string }>(await shoal(['user', 'create', 'bot', '--json']));
      const asBot = (args: string[]): Promise<Ran> => shoal(['--user', 'bot', '--token', bot.token, ...args]);
      // a user makes a token of their own; an admin one for them
      const mine = json<{ id: string; token: string; user: string; expires_at: string }>(
        await asBot(['user', 'token', 'create', '--name', 'runner', '--expires', '1d', '--json']),
      );
      assert.equal(mine.user, 'bot');
      assert.ok(mine.expires_at);
      const byAdmin = json<{ id: string; token: string }>(
        await shoal(['user', 'token', 'create', '--for', 'bot', '--name', 'nightly', '--json']),
      );
      const me = await shoal(['--user', 'bot', '--token', byAdmin.token, 'user', 'show', 'me']);
      assert.equal(me.code, 0, me.stderr);
      assert.match(me.stdout, /bot\.[0-9a-f]{16}/, 'show me has the immutable id');
      const table = await asBot(['user', 'token', 'list']);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, /initial/);
      assert.match(table.stdout, new RegExp(`${mine.id}\\s+runner`));
      assert.ok(!table.stdout.includes(mine.token.split('.')[1]!), 'never the secret');
      // revoked: the next request with it fails
      assert.equal((await asBot(['user', 'token', 'revoke', mine.id])).code, 0);
      const revoked = await shoal(['--user', 'bot', '--token', mine.token, 'user', 'show', 'me']);
      assert.equal(revoked.code, 1);
      assert.match(revoked.stderr, /UNAUTHORIZED/);
      // delete: refused while bot has a live application, --force ends it
      const app = json<{ uid: string }>(await asBot(['app', 'create', 'tiny', '--json']));
      const refused = await shoal(['user', 'delete', 'bot']);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /^error: CONFLICT: .*live application/m);
      assert.equal((await shoal(['user', 'delete', 'bot', '--force'])).code, 0);
      assert.equal((await asBot(['user', 'show', 'me'])).code, 1, "the deleted user's token");
      const state = json<{ status: string }>(await shoal(['app', 'state', app.uid, '--json']));
      assert.ok(['DEALLOCATE', 'DEALLOCATED'].includes(state.status), state.status);
    });

    it('a label the driver rejects is refused with a message naming the field (exit 1)', async () => {
      const bad = JSON.stringify({
        name: 'bad',
        definitions: [{ driver: 'test', options: { fail_allocate: 999 }, requirements: { cpu: 1, ram: 1 } }],
      });
      const r = await shoal(['label', 'create', '-f', '-'], bad);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^error: INVALID_DEFINITION: .*fail_allocate/m);
    });

    it('app create --wait follows the events to ALLOCATED and exits 0', async () => {
      const app = json<{ uid: string; state: { status: string }; metadata: Record<string, unknown> }>(
        await shoal(['app', 'create', 'tiny', '-m', 'JOB=42', '-m', 'SECRET=s=3', '--wait', '--timeout', '2m', '--json']),
      );
      assert.equal(app.state.status, 'ALLOCATED');
      assert.deepEqual(app.metadata, { JOB: '42', SECRET: 's=3' });
      uid = app.uid;
    });

    it('app show / state / resource report it, and the Meta API answers the resource from its own address', async () => {
      assert.equal(json<{ uid: string }>(await shoal(['app', 'show', uid, '--json'])).uid, uid);
      assert.equal(json<{ status: string }>(await shoal(['app', 'state', uid, '--json'])).status, 'ALLOCATED');
      const r = json<{ application_uid: string; driver: string; ipaddr: string; hwaddr: string; metadata: Record<string, unknown> }>(
        await shoal(['app', 'resource', uid, '--json']),
      );
      assert.equal(r.application_uid, uid);
      assert.equal(r.driver, 'test');
      assert.match(r.ipaddr, /^127\.\d+\.\d+\.\d+$/);
      assert.deepEqual(r.metadata, { GREETING: 'hello', JOB: '42', SECRET: 's=3' });
      const ip = await shoal(['app', 'resource', uid, '--field', 'ipaddr']);
      assert.equal(ip.stdout, `${r.ipaddr}\n`);
      const meta = await metaGet(node.metaPort, r.ipaddr);
      assert.equal(meta.status, 200, meta.body);
      assert.deepEqual(JSON.parse(meta.body), { GREETING: 'hello', JOB: '42', SECRET: 's=3' });
      const people = await shoal(['app', 'show', uid]);
      assert.equal(people.code, 0, people.stderr);
      assert.match(people.stdout, /^uid\s+/);
      assert.match(people.stdout, /\nSTATUS\s+AT\s+DESCRIPTION\nNEW\s/);
      assert.match(people.stdout, new RegExp(`ipaddr\\s+${r.ipaddr.replace(/\./g, '\\.')}`));
    });

    it('another user does not see the application (exit 1, NOT_FOUND)', async () => {
      const other = json<{ token: string }>(await shoal(['user', 'create', 'eve', '--json']));
      const r = await shoal(['--user', 'eve', '--token', other.token, 'app', 'show', uid]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^error: NOT_FOUND: /m);
      const list = json<{ items: unknown[] }>(await shoal(['--user', 'eve', '--token', other.token, 'app', 'list', '--json']));
      assert.deepEqual(list.items, []);
    });

    it('app deallocate --wait exits 0 at DEALLOCATED, and the Meta API forgets the resource', async () => {
      const ip = (await shoal(['app', 'resource', uid, '--field', 'ipaddr'])).stdout.trim();
      const r = json<{ status: string }>(await shoal(['app', 'deallocate', uid, '--wait', '--timeout', '2m', '--json']));
      assert.equal(r.status, 'DEALLOCATED');
      assert.equal(json<{ status: string }>(await shoal(['app', 'state', uid, '--json'])).status, 'DEALLOCATED');
      const states = json<{ items: Array<{ status: string }> }>(await shoal(['app', 'states', uid, '--json']));
      assert.deepEqual(states.items.map((s) => s.status).slice(-2), ['DEALLOCATE', 'DEALLOCATED']);
      assert.equal((await metaGet(node.metaPort, ip)).status, 404);
    });

    it('app create --wait for a label whose driver always fails exits 1 with the driver reason', async () => {
      const r = await shoal(['app', 'create', 'broken', '--wait', '--timeout', '2m']);
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stderr, /^error: APPLICATION_ERROR: application [0-9a-f-]{36} is ERROR: .*fail_allocate/m);
    });

    it('app create for an unknown label exits 1 with a message naming it', async () => {
      const r = await shoal(['app', 'create', 'no-such-label', '--wait']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^error: [A-Z_]+: .*no-such-label/m);
      assert.equal(r.stdout, '');
    });

    it('node list and node show report this node with the test driver enabled', async () => {
      const nodes = json<{ items: Array<{ name: string; alive: boolean; drivers: Array<{ instance: string; enabled: boolean }> }> }>(
        await shoal(['node', 'list', '--json']),
      );
      assert.equal(nodes.items.length, 1);
      assert.equal(nodes.items[0]!.alive, true);
      assert.deepEqual(
        nodes.items[0]!.drivers.filter((d) => d.enabled).map((d) => d.instance),
        ['test'],
      );
      const table = await shoal(['node', 'show']);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, /\nINSTANCE\s+DRIVER\s+ENABLED\s+HEALTH/);
      assert.match(table.stdout, /\ntest\s+test\s+yes\s+healthy/);
    });

    it('node maintenance on/off toggles this node', async () => {
      assert.equal(json<{ maintenance: boolean }>(await shoal(['node', 'maintenance', 'on', '--json'])).maintenance, true);
      assert.equal(json<{ maintenance: boolean }>(await shoal(['node', 'maintenance', 'off', '--json'])).maintenance, false);
    });

    it('serve stops on SIGTERM with exit code 0', async () => {
      assert.equal(await node.stop(), 0, node.output());
    });

    it('against the stopped node, app create --wait and events --for fail fast with UNREACHABLE (exit 1)', async () => {
      const create = await shoal(['app', 'create', 'tiny', '--wait']);
      assert.equal(create.code, 1, create.stdout);
      assert.match(
        create.stderr,
        /^\(cannot open the event stream of .*: connection refused .*; attempt 1 of 4, trying again in \d+ ms\)$/m,
      );
      assert.match(
        create.stderr,
        /^error: UNREACHABLE: could not open the event stream \(4 attempts\): .*connection refused.*; nothing was started$/m,
      );
      const events = await shoal(['events', '--for', '2s']);
      assert.equal(events.code, 1, events.stdout);
      assert.match(events.stderr, /^error: UNREACHABLE: /m);
    });
  });
}

describe('the five-minute tour of docs/cli.md, run verbatim', () => {
  let dir: string;
  let node: Served | undefined;
  after(async () => {
    await node?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs from login to DEALLOCATED (ports substituted)', async () => {
    const doc = await readFile(join(ROOT, 'docs', 'cli.md'), 'utf8');
    const serveBlock = /<!-- tour:serve -->\s*```sh\n([\s\S]*?)```/.exec(doc)?.[1];
    const clientBlock = /<!-- tour:client -->\s*```sh\n([\s\S]*?)```/.exec(doc)?.[1];
    assert.ok(serveBlock?.includes('npx shoal serve'), 'docs/cli.md has the serve step of the tour');
    assert.ok(clientBlock !== undefined, 'docs/cli.md has the client steps of the tour');
    // a copy of the tour in README.md (between the same markers) must be the tested one
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8').catch(() => '');
    const readmeBlock = /<!-- tour:client -->\s*```sh\n([\s\S]*?)```/.exec(readme)?.[1];
    if (readmeBlock !== undefined) assert.equal(readmeBlock, clientBlock, 'README.md and docs/cli.md have the same tour');
    dir = await mkdtemp(join(tmpdir(), 'shoal-tour-'));
    node = await serve(dir, true);
    const apiPort = new URL(node.apiUrl).port;
    const script = clientBlock
      .replaceAll('127.0.0.1:8001', `127.0.0.1:${apiPort}`)
      .replaceAll('127.0.0.1:8002', `127.0.0.1:${node.metaPort}`);
    // `npx shoal` is this checkout's bin/shoal.js (npx resolves it the same way in a clone)
    const prelude = `npx() { if [ "$1" = shoal ]; then shift; node ${JSON.stringify(BIN)} "$@"; else command npx "$@"; fi; }\nset -x\n`;
    const { SHOAL_URL: _u, SHOAL_TOKEN: _t, SHOAL_USER: _s, SHOAL_CA: _c, ...clean } = process.env;
    const r = await run('bash', ['-e', '-o', 'pipefail', '-c', prelude + script], {
      cwd: dir,
      env: { ...clean, HOME: join(dir, 'home'), SHOAL_CONFIG: join(dir, 'home', 'shoal.json'), SHOAL_URL: node.apiUrl },
    });
    assert.equal(r.code, 0, `tour failed:\n${r.stderr}\n${r.stdout}`);
    // the metadata read from the resource's own address, and the 404s for everyone else
    assert.match(r.stdout, /"JOB":\s*"42"/);
    assert.match(r.stdout, /GREETING/);
    assert.match(r.stdout, /^404$/m);
    assert.match(r.stdout, /DEALLOCATED/);
  });
});
