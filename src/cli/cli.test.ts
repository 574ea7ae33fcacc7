import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startFakeApi, type FakeApi } from '../client/testing/fake-api.js';
import { makeTestTls, type TestTls } from '../client/testing/test-tls.js';
import { runCli } from './main.js';
import { recordingIo, type RecordingIo } from './testing-io.js';

const T = '2024-01-01T00:00:00.000Z';
const LABEL_UID = '1b7d6c1e-3f1a-4c2b-9d7e-1a2b3c4d5e6f';
let seq = 0;
function newUid(): string {
  seq += 1;
  return `0b7d6c1e-3f1a-4c2b-9d7e-${String(seq).padStart(12, '0')}`;
}
function app(uid: string, status = 'NEW', metadata: Record<string, string> = {}): Record<string, unknown> {
  return { uid, label_uid: LABEL_UID, owner: 'admin', metadata, created_at: T, state: { status, description: '', created_at: T } };
}

/** A loopback port nobody listens on (a node that is down). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** A loopback server that accepts connections and never answers (a hung node). */
async function silentServer(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const srv: Server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(srv.address() as { port: number }).port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        srv.close(() => r());
      }),
  };
}

async function run(
  args: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; stdin?: string },
): Promise<{ code: number; io: RecordingIo }> {
  const io = recordingIo(opts.cwd, opts.env, opts.stdin);
  const code = await runCli(['node', 'shoal', ...args], io);
  return { code, io };
}

describe('shoal CLI: command line', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-cli-'));
    env = { SHOAL_CONFIG: join(dir, 'config.json'), HOME: dir };
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('--help exits 0 and lists the verbs', async () => {
    const { code, io } = await run(['--help'], { cwd: dir, env });
    assert.equal(code, 0);
    for (const verb of ['serve', 'login', 'user', 'label', 'app', 'node']) assert.match(io.stdout(), new RegExp(`\\n  ${verb}\\b`));
  });

  const usageCases: Array<[string[], RegExp]> = [
    [['frobnicate'], /error: USAGE: unknown command 'frobnicate'/],
    [['app', 'create'], /error: USAGE: missing required argument 'label'/],
    [['app', 'create', 'tiny', '--bogus'], /error: USAGE: unknown option '--bogus'/],
    [['app', 'create', 'tiny', '-m', 'JOB'], /error: USAGE: -m "JOB": expected KEY=VALUE/],
    [['app', 'create', 'tiny', '-m', 'A=1', '-m', 'A=2'], /error: USAGE: -m: metadata key "A" is given twice/],
    [['app', 'create', 'Tiny'], /error: USAGE: label "Tiny"/],
    [['app', 'create', 'tiny', '--wait', '--timeout', 'soon'], /error: USAGE: --timeout "soon"/],
    [['app', 'create', 'tiny', '--lifetime', '2 hours'], /error: USAGE: --lifetime "2 hours"/],
    [['user', 'create', 'bob', '--role', 'root'], /error: USAGE: option '--role <role>' argument 'root' is invalid/],
    [['node', 'maintenance', 'maybe'], /error: USAGE: node maintenance "maybe": expected on or off/],
    [['label', 'delete', 'tiny'], /error: USAGE: label delete "tiny": give a uid or NAME:VERSION/],
    [['label', 'create'], /error: USAGE: required option '-f, --file <file>' not specified/],
    [['app', 'list', '--limit', '0'], /error: USAGE: --limit "0"/],
    [['app', 'list', '--status', 'running'], /error: USAGE: --status "running": expected one of NEW, ELECTED, ALLOCATED/],
    [['serve', '--api', 'localhost'], /error: USAGE: --api "localhost": expected HOST:PORT/],
    [['app'], /Usage: shoal app/],
    [
      ['--url', '127.0.0.1:8001', '--token', 't', 'app', 'list'],
      /error: USAGE: --url "127.0.0.1:8001": expected a node URL .*did you mean https:\/\/127\.0\.0\.1:8001/,
    ],
    [['--url', 'ftp://x', 'login', '--token', 't'], /error: USAGE: --url "ftp:\/\/x": expected a node URL/],
  ];
  for (const [args, pattern] of usageCases) {
    it(`exits 2 with a clear message: shoal ${args.join(' ')}`, async () => {
      const { code, io } = await run(args, { cwd: dir, env });
      assert.equal(code, 2, io.stderr());
      assert.match(io.stderr(), pattern);
      assert.equal(io.stdout(), '');
    });
  }

  it('exits 2 and says to log in when there is no saved config', async () => {
    const { code, io } = await run(['app', 'list'], { cwd: dir, env });
    assert.equal(code, 2);
    assert.match(io.stderr(), /^error: USAGE: not logged in .*shoal login/);
  });

  it('exits 1 with UNREACHABLE when the node does not answer', async () => {
    const { code, io } = await run(['--url', 'http://127.0.0.1:9', '--token', 't', 'app', 'list'], { cwd: dir, env });
    assert.equal(code, 1);
    assert.match(io.stderr(), /^error: UNREACHABLE: cannot connect to http:\/\/127\.0\.0\.1:9/);
  });

  // these wait on the CLI's own connection back-off (about 2 s each): run side by side
  describe('against a node that is down or hung', { concurrency: true }, () => {
    it('app create --wait against a node that is down says so at each attempt and gives up with UNREACHABLE (nothing created)', async () => {
      const url = `http://127.0.0.1:${await closedPort()}`;
      const { code, io } = await run(['--url', url, '--token', 't', 'app', 'create', 'tiny', '--wait'], { cwd: dir, env });
      assert.equal(code, 1);
      const lines = io.stderr().trimEnd().split('\n');
      assert.deepEqual(
        lines.slice(0, -1).map((l) => l.replace(/trying again in \d+ ms/, 'trying again in N ms')),
        [1, 2, 3].map(
          (n) =>
            `(cannot open the event stream of ${url}: cannot connect to ${url}: connection refused (is \`shoal serve\` running there?); attempt ${n} of 4, trying again in N ms)`,
        ),
      );
      assert.match(
        lines.at(-1)!,
        /^error: UNREACHABLE: could not open the event stream \(4 attempts\): cannot connect to .*connection refused.*; nothing was started$/,
      );
      assert.equal(io.stdout(), '');
    });

    it('app create --wait --timeout reports TIMEOUT (not UNREACHABLE) when the time runs out while connecting', async () => {
      const hung = await silentServer();
      try {
        const { code, io } = await run(['--url', hung.url, '--token', 't', 'app', 'create', 'tiny', '--wait', '--timeout', '1s'], {
          cwd: dir,
          env,
        });
        assert.equal(code, 1);
        assert.match(io.stderr(), /^error: TIMEOUT: the event stream of \S+ did not connect within 1(\.0)?s; nothing was started\n$/);
      } finally {
        await hung.close();
      }
    });

    it('events --for against a node that is down exits 1 (UNREACHABLE)', async () => {
      const url = `http://127.0.0.1:${await closedPort()}`;
      const { code, io } = await run(['--url', url, '--token', 't', 'events', '--for', '1m'], { cwd: dir, env });
      assert.equal(code, 1);
      assert.match(
        io.stderr(),
        /\nerror: UNREACHABLE: could not open the event stream \(4 attempts\): cannot connect to .*connection refused/,
      );
      assert.equal(io.stdout(), '');
    });

    it('events --for that ends before the stream ever connected exits 1 (UNREACHABLE)', async () => {
      const hung = await silentServer();
      try {
        const { code, io } = await run(['--url', hung.url, '--token', 't', 'events', '--for', '1s'], { cwd: dir, env });
        assert.equal(code, 1);
        assert.equal(io.stderr(), `error: UNREACHABLE: the event stream of ${hung.url} never connected within 1s\n`);
      } finally {
        await hung.close();
      }
    });
  });

  it('app list --all is refused with its new name, --all-pages, sending nothing', async () => {
    const { code, io } = await run(['--url', 'http://127.0.0.1:9', '--token', 't', 'app', 'list', '--all'], { cwd: dir, env });
    assert.equal(code, 2);
    assert.match(io.stderr(), /^error: USAGE: --all is now --all-pages \(it follows every page/);
  });

  it('names the file and line of a label file that is not valid YAML, sending nothing', async () => {
    const file = join(dir, 'broken.yml');
    await writeFile(file, 'name: tiny\ndefinitions: [\n  - driver: test\n');
    const { code, io } = await run(['--url', 'http://127.0.0.1:9', '--token', 't', 'label', 'create', '-f', file], { cwd: dir, env });
    assert.equal(code, 2);
    assert.match(io.stderr(), new RegExp(`error: USAGE: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: not valid YAML/JSON`));
  });
});

describe('shoal CLI against a stand-in node', () => {
  let api: FakeApi;
  let tls: TestTls;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const ADMIN_TOKEN = 'admintoken123';

  before(async () => {
    tls = makeTestTls();
    api = await startFakeApi(tls);
    dir = await mkdtemp(join(tmpdir(), 'shoal-cli-fake-'));
    env = { SHOAL_CONFIG: join(dir, 'cfg', 'config.json'), HOME: dir };
    // what `shoal serve` leaves in its data dir
    await mkdir(join(dir, 'shoal-data', 'tls'), { recursive: true });
    await writeFile(join(dir, 'shoal-data', 'admin.token'), `${ADMIN_TOKEN}\n`, { mode: 0o600 });
    await writeFile(join(dir, 'shoal-data', 'tls', 'ca.crt'), tls.caPem);

    const authOk = (h: string | undefined): boolean =>
      h === `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}` || h === `Bearer ${ADMIN_TOKEN}`;
    api.route('GET', '/api/v1/users/me', (req) =>
      authOk(req.headers.authorization)
        ? { json: { name: 'admin', role: 'admin', created_at: T } }
        : { status: 401, json: { error: { code: 'UNAUTHORIZED', message: 'unknown user or wrong token' } } },
    );
    api.route('GET', '/api/v1/users', () => ({ json: { items: [{ name: 'admin', role: 'admin', created_at: T }] } }));
    api.route('GET', `/api/v1/labels/${LABEL_UID}`, () => ({
      json: {
        uid: LABEL_UID,
        name: 'tiny',
        version: 2,
        definitions: [{ driver: 'test', requirements: { cpu: 1, ram: 1 } }],
        metadata: {},
        owner: 'admin',
        created_at: T,
      },
    }));
    api.route('POST', '/api/v1/applications', (req) => {
      const body = JSON.parse(req.body) as { label: string; metadata?: Record<string, string> };
      const uid = newUid();
      const other = newUid();
      if (body.label === 'nosuch') return { status: 404, json: { error: { code: 'NOT_FOUND', message: 'no label "nosuch"' } } };
      if (body.label === 'droppy') {
        // the stream breaks during the POST and the node then refuses it: the wait cannot go on
        // (the events below go to no stream)
        api.refuseStreams({ status: 401, json: { error: { code: 'UNAUTHORIZED', message: 'token revoked' } } });
        api.dropStreams();
      }
      // events for another application, then for this one, written before the POST's answer: the
      // stream was opened before this POST, so the client holds them until it knows the uid
      api.sendEvent(`${seq}1`, 'state', { application_uid: other, status: 'ALLOCATED', description: '', created_at: T });
      const outcome = body.metadata?.OUTCOME;
      if (outcome !== 'silent') {
        api.sendEvent(`${seq}2`, 'state', { application_uid: uid, status: 'ELECTED', description: 'on node-1', created_at: T });
        if (outcome === 'error') {
          api.sendEvent(`${seq}3`, 'state', {
            application_uid: uid,
            status: 'ERROR',
            description: 'driver test: allocate failed (fail_allocate=255)',
            created_at: T,
          });
        } else {
          api.sendEvent(`${seq}3`, 'state', { application_uid: uid, status: 'ALLOCATED', description: '', created_at: T });
        }
      }
      api.route('GET', `/api/v1/applications/${uid}`, () => ({ json: app(uid, 'ALLOCATED', body.metadata) }));
      api.route('GET', `/api/v1/applications/${uid}/state`, () => ({ json: { status: 'NEW', description: '', created_at: T } }));
      api.route('GET', `/api/v1/applications/${uid}/resource`, () => ({
        json: {
          application_uid: uid,
          node: 'node-1',
          driver: 'test',
          definition_index: 0,
          hwaddr: '02:00:00:00:00:01',
          ipaddr: '127.1.0.2',
          metadata: body.metadata ?? {},
          expires_at: null,
          created_at: T,
        },
      }));
      return { status: 201, json: app(uid, 'NEW', body.metadata) };
    });
    // two pages: the second one only through next_cursor
    api.route('GET', '/api/v1/applications', (req) =>
      req.query.get('cursor') === 'page-2'
        ? { json: { items: [app('0b7d6c1e-3f1a-4c2b-9d7e-bbbbbbbbbbbb', 'NEW')] } }
        : { json: { items: [app('0b7d6c1e-3f1a-4c2b-9d7e-aaaaaaaaaaaa', 'ALLOCATED')], next_cursor: 'page-2' } },
    );
  });
  after(async () => {
    await api.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('login with a wrong token exits 1 with the API message and saves nothing', async () => {
    const { code, io } = await run(
      ['--url', api.url, '--ca', join(dir, 'shoal-data', 'tls', 'ca.crt'), '--user', 'admin', '--token', 'wrong', 'login'],
      { cwd: dir, env },
    );
    assert.equal(code, 1);
    assert.equal(io.stderr().trim().split('\n').at(-1), 'error: UNAUTHORIZED: unknown user or wrong token');
    await assert.rejects(stat(env.SHOAL_CONFIG!), { code: 'ENOENT' });
  });

  it('login picks up ./shoal-data/admin.token and ./shoal-data/tls/ca.crt, says so, and saves a 0600 config', async () => {
    const { code, io } = await run(['--url', api.url, 'login'], { cwd: dir, env });
    assert.equal(code, 0, io.stderr());
    assert.match(io.stderr(), /using the admin token from \.\/shoal-data\/admin\.token/);
    assert.match(io.stderr(), /trusting the node's CA from \.\/shoal-data\/tls\/ca\.crt/);
    assert.match(io.stdout(), /as\s+admin \(admin\)/);
    const path = env.SHOAL_CONFIG!;
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const saved = JSON.parse(await readFile(path, 'utf8')) as Record<string, string>;
    assert.deepEqual(saved, { url: api.url, token: ADMIN_TOKEN, ca: tls.caPem, user: 'admin' });
  });

  it('later commands use the saved URL, CA and token (Basic admin:token)', async () => {
    const { code, io } = await run(['user', 'list', '--json'], { cwd: dir, env });
    assert.equal(code, 0, io.stderr());
    assert.deepEqual(
      (JSON.parse(io.stdout()) as { items: Array<{ name: string }> }).items.map((u) => u.name),
      ['admin'],
    );
    assert.equal(api.requests.at(-1)!.headers.authorization, `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}`);
  });

  it('never sends the saved token to another --url', async () => {
    const { code, io } = await run(['--url', 'http://127.0.0.1:9', 'app', 'list'], { cwd: dir, env });
    assert.equal(code, 2);
    assert.match(io.stderr(), /no token for http:\/\/127\.0\.0\.1:9/);
  });

  it('app list prints an aligned table with label names', async () => {
    const { code, io } = await run(['app', 'list'], { cwd: dir, env });
    assert.equal(code, 0, io.stderr());
    const lines = io.stdout().trimEnd().split('\n');
    assert.match(lines[0]!, /^UID\s+LABEL\s+STATUS\s+OWNER\s+CREATED\s+DESCRIPTION$/);
    assert.match(lines[1]!, /^0b7d6c1e-3f1a-4c2b-9d7e-aaaaaaaaaaaa {2}tiny:2 {2}ALLOCATED {2}admin/);
    assert.equal(lines[0]!.indexOf('STATUS'), lines[1]!.indexOf('ALLOCATED'));
  });

  it('app list shows the first page and says how to get the rest; --all-pages follows next_cursor', async () => {
    const first = await run(['app', 'list', '--field', 'uid'], { cwd: dir, env });
    assert.equal(first.code, 0, first.io.stderr());
    assert.equal(first.io.stdout(), '0b7d6c1e-3f1a-4c2b-9d7e-aaaaaaaaaaaa\n');
    assert.match(first.io.stderr(), /--all-pages lists every one/);
    const all = await run(['app', 'list', '--all-pages', '--field', 'uid'], { cwd: dir, env });
    assert.equal(all.code, 0, all.io.stderr());
    assert.equal(all.io.stdout(), '0b7d6c1e-3f1a-4c2b-9d7e-aaaaaaaaaaaa\n0b7d6c1e-3f1a-4c2b-9d7e-bbbbbbbbbbbb\n');
  });

  /** Runs `shoal events` (no --for) in-process; `interrupt()` is Ctrl-C. */
  function eventsRun(): { done: Promise<number>; io: RecordingIo; interrupt(): void; printed(re: RegExp): Promise<void> } {
    const base = recordingIo(dir, env);
    let onInt: (() => void) | undefined;
    const waiters: Array<{ re: RegExp; resolve: () => void }> = [];
    const all = (): string => base.stdout() + base.stderr();
    const wake = (): void => {
      for (const w of waiters.filter((x) => x.re.test(all()))) w.resolve();
    };
    const io: RecordingIo = {
      ...base,
      out: (text) => {
        base.out(text);
        wake();
      },
      err: (text) => {
        base.err(text);
        wake();
      },
      onInterrupt: (fn) => {
        onInt = fn;
        return () => (onInt = undefined);
      },
    };
    return {
      done: runCli(['node', 'shoal', 'events'], io),
      io,
      interrupt: () => onInt?.(),
      printed: (re) => (re.test(all()) ? Promise.resolve() : new Promise((resolve) => waiters.push({ re, resolve }))),
    };
  }

  it('events prints the events of a connected stream and exits 0 when stopped while connected', async () => {
    const opened = api.nextStream();
    const r = eventsRun();
    await opened;
    const uid = newUid();
    api.sendEvent('e-1', 'state', { application_uid: uid, status: 'ELECTED', description: 'on node-1', created_at: T });
    api.sendEvent('e-2', 'state', { application_uid: uid, status: 'ALLOCATED', description: '', created_at: T });
    await r.printed(/\(id e-2\)/);
    r.interrupt();
    assert.equal(await r.done, 0, r.io.stderr());
    assert.equal(
      r.io.stdout(),
      `${T}  ${uid}  ${'ELECTED'.padEnd(11)}  on node-1  (id e-1)\n${T}  ${uid}  ${'ALLOCATED'.padEnd(11)}  -  (id e-2)\n`,
    );
  });

  it('events exits 1 (UNREACHABLE) when stopped while its stream is down', async () => {
    const opened = api.nextStream();
    const r = eventsRun();
    const stream = await opened;
    try {
      api.refuseStreams({ status: 503, json: { error: { code: 'UNAVAILABLE', message: 'node stopping' } } });
      stream.destroy();
      await r.printed(/event stream interrupted.*reconnecting in \d+ ms/);
      r.interrupt();
      assert.equal(await r.done, 1);
      assert.match(r.io.stderr(), /\nerror: UNREACHABLE: the event stream of .* was down when it ended \(events may be missing\)/);
    } finally {
      api.refuseStreams(undefined);
    }
  });

  it('app create --wait opens the event stream first, follows it to ALLOCATED and exits 0', async () => {
    const from = api.requests.length;
    const { code, io } = await run(['app', 'create', 'tiny', '-m', 'JOB=42', '--wait', '--json'], { cwd: dir, env });
    assert.equal(code, 0, io.stderr());
    const out = JSON.parse(io.stdout()) as { uid: string; state: { status: string }; metadata: Record<string, string> };
    assert.equal(out.state.status, 'ALLOCATED');
    assert.deepEqual(out.metadata, { JOB: '42' });
    const paths = api.requests.slice(from).map((r) => `${r.method} ${r.path}`);
    assert.ok(paths.indexOf('GET /api/v1/events') < paths.indexOf('POST /api/v1/applications'), paths.join(', '));
    assert.equal(paths.filter((p) => p === `GET /api/v1/applications/${out.uid}/state`).length <= 1, true, 'no polling');
  });

  it('app create --wait prints the resource for people', async () => {
    const { code, io } = await run(['app', 'create', 'tiny', '--wait'], { cwd: dir, env });
    assert.equal(code, 0, io.stderr());
    assert.match(io.stdout(), /^application [0-9a-f-]{36} ALLOCATED in /);
    assert.match(io.stdout(), /\nipaddr\s+127\.1\.0\.2\n/);
  });

  it('app create --wait exits 1 with the reason when the application goes to ERROR', async () => {
    const { code, io } = await run(['app', 'create', 'tiny', '-m', 'OUTCOME=error', '--wait'], { cwd: dir, env });
    assert.equal(code, 1);
    assert.match(
      io.stderr(),
      /^error: APPLICATION_ERROR: application [0-9a-f-]{36} is ERROR: driver test: allocate failed \(fail_allocate=255\)\n$/,
    );
    assert.equal(io.stdout(), '');
  });

  it('app create --wait exits 1 on timeout, naming the application and how to cancel it', async () => {
    const { code, io } = await run(['app', 'create', 'tiny', '-m', 'OUTCOME=silent', '--wait', '--timeout', '1s'], { cwd: dir, env });
    assert.equal(code, 1);
    assert.match(
      io.stderr(),
      /^error: TIMEOUT: application ([0-9a-f-]{36}) is still NEW after 1s; it was not cancelled: `shoal app deallocate \1` to cancel\n$/,
    );
  });

  it('app create for an unknown label exits 1 with the API message naming it', async () => {
    const { code, io } = await run(['app', 'create', 'nosuch', '--wait'], { cwd: dir, env });
    assert.equal(code, 1);
    assert.equal(io.stderr(), 'error: NOT_FOUND: no label "nosuch"\n');
  });

  it('app create --wait exits 1 naming the application when the event stream is lost for good', async () => {
    try {
      const { code, io } = await run(['app', 'create', 'droppy', '--wait', '--timeout', '1m'], { cwd: dir, env });
      assert.equal(code, 1);
      // the drop is reported as it happens, then the failure once the node refuses the stream
      assert.match(
        io.stderr(),
        /^\(lost the event stream of [^\n]*; reconnecting in \d+ ms\)\nerror: UNREACHABLE: lost the event stream of .* while waiting for application [0-9a-f-]{36} \(last seen NEW\): token revoked\n$/,
      );
    } finally {
      api.refuseStreams(undefined);
    }
  });

  it('app create -q prints only the uid', async () => {
    const { code, io } = await run(['app', 'create', 'tiny', '-q'], { cwd: dir, env });
    assert.equal(code, 0, io.stderr());
    assert.match(io.stdout(), /^[0-9a-f-]{36}\n$/);
  });
});
