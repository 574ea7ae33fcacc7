import { startNodeProcess, type NodeProcess } from '../helpers/node-process.js';
import { sendRaw, type RawRequest, type RawResponse } from '../helpers/raw-http.js';
import type { Fixtures } from './fuzz-requests.js';

/**
 * A real `shoal serve` process (test driver only) with the fixtures the fuzzer points at: an
 * ordinary user, a second user, a user whose token id is tried with a wrong secret, a label and an
 * ALLOCATED application of each of the two users. `ensureFixtures` remakes whatever a fuzzed
 * request removed; `restart` starts a fresh node when one died (so one crash fails one route).
 */

/** Largest body in this node's config: small enough that "just over the limit" stays cheap. */
export const FUZZ_BODY_LIMIT = 256 * 1024;

export const FUZZ_NODE_CONFIG = {
  drivers: { test: { cpu: 4096, ram: 4096 } },
  capacity: { cpu: 4096, ram: 4096 },
  body_limit: FUZZ_BODY_LIMIT,
};

export interface JsonAnswer {
  status: number;
  json: unknown;
}

export class FuzzNode {
  node: NodeProcess;
  fixtures: Fixtures | null = null;
  readonly tls: boolean;
  /** the test driver's loopback block (127.X.0.0/16), kept clear of the addresses bad logins come from */
  #resourceBlock = -1;
  #badAddress = 0;

  private constructor(node: NodeProcess, tls: boolean) {
    this.node = node;
    this.tls = tls;
  }

  static async start(tls: boolean): Promise<FuzzNode> {
    const n = new FuzzNode(await startNodeProcess({ config: FUZZ_NODE_CONFIG, tls }), tls);
    try {
      await n.ensureFixtures();
    } catch (err) {
      const out = n.tail(60);
      await n.stop();
      throw new Error(`${(err as Error).message}\nthe node's last output:\n${out}`);
    }
    return n;
  }

  get host(): string {
    return `127.0.0.1:${this.node.apiPort}`;
  }

  alive(): boolean {
    return this.node.proc.exitCode === null && this.node.proc.signalCode === null;
  }

  /** How the process ended, for reports. */
  exitDescription(): string {
    return `exit code ${this.node.proc.exitCode}, signal ${this.node.proc.signalCode}`;
  }

  /** A loopback source address not used before (127.A.B.1, A ≠ the test driver's block): failed logins from it lock nobody else out. */
  nextBadAddress(): string {
    for (;;) {
      const i = this.#badAddress++;
      const a = 200 + (Math.floor(i / 256) % 54);
      if (a === this.#resourceBlock) continue;
      return `127.${a}.${i % 256}.1`;
    }
  }

  send(req: RawRequest, opts: { localAddress?: string; port?: number; timeoutMs?: number } = {}): Promise<RawResponse> {
    return sendRaw(
      {
        host: '127.0.0.1',
        port: opts.port ?? this.node.apiPort,
        ca: opts.port === undefined ? this.node.ca : undefined,
        localAddress: opts.localAddress,
        timeoutMs: opts.timeoutMs ?? 20_000,
      },
      req,
    );
  }

  /** A plain JSON call (fixtures and checks). */
  async api(method: string, path: string, token: string | null, body?: unknown): Promise<JsonAnswer> {
    const headers: Array<[string, string]> = [
      ['Host', this.host],
      ['Connection', 'close'],
    ];
    if (token !== null) headers.push(['Authorization', `Bearer ${token}`]);
    if (body !== undefined) headers.push(['Content-Type', 'application/json']);
    const res = await this.send({
      method,
      target: path,
      headers,
      body: body === undefined ? undefined : Buffer.from(JSON.stringify(body)),
    });
    const text = res.body.toString('utf8');
    let json: unknown = text;
    try {
      json = text === '' ? null : JSON.parse(text);
    } catch {
      // not JSON: kept as text
    }
    return { status: res.status, json };
  }

  async healthy(): Promise<boolean> {
    if (!this.alive()) return false;
    try {
      const r = await this.api('GET', '/health', null);
      return r.status === 200;
    } catch {
      return false;
    }
  }

  async restart(): Promise<void> {
    await this.node.cleanup();
    this.node = await startNodeProcess({ config: FUZZ_NODE_CONFIG, tls: this.tls });
    this.fixtures = null;
    await this.ensureFixtures(); // on failure the caller's finally stops this.node
  }

  async stop(): Promise<void> {
    await this.node.cleanup();
  }

  /** The node's log lines that mention `needle` (a request id), for failure reports. */
  logLines(needle: string, max = 40): string {
    return this.node
      .output()
      .split('\n')
      .filter((l) => l.includes(needle))
      .slice(-max)
      .join('\n');
  }

  /** The last lines the node printed. */
  tail(lines = 40): string {
    return this.node.output().split('\n').slice(-lines).join('\n');
  }

  #must(r: JsonAnswer, what: string, ok: number[] = [200, 201]): Record<string, unknown> {
    if (!ok.includes(r.status)) throw new Error(`fixture: ${what} answered ${r.status}: ${JSON.stringify(r.json).slice(0, 300)}`);
    return r.json as Record<string, unknown>;
  }

  async #ensureUser(name: string, current: { token: string } | undefined): Promise<string> {
    const admin = this.node.token;
    if (current !== undefined && (await this.api('GET', '/api/v1/users/me', current.token)).status === 200) return current.token;
    const existing = await this.api('GET', `/api/v1/users/${name}`, admin);
    if (existing.status === 200) this.#must(await this.api('DELETE', `/api/v1/users/${name}`, admin), `delete user ${name}`, [204]);
    return String(this.#must(await this.api('POST', '/api/v1/users', admin, { name, role: 'user' }), `create user ${name}`).token);
  }

  async #ensureLabel(uid: string | undefined, name: string, token: string): Promise<string> {
    if (uid !== undefined && (await this.api('GET', `/api/v1/labels/${uid}`, token)).status === 200) return uid;
    const body = {
      name,
      definitions: [{ driver: 'test', requirements: { cpu: 1, ram: 1 } }],
      metadata: { GREETING: 'hello' },
      lifetime: '1h',
    };
    let r = await this.api('POST', '/api/v1/labels', token, body);
    // the name may now belong to an earlier incarnation of this user: publish under a fresh one
    for (let i = 1; i < 20 && r.status !== 201; i++) r = await this.api('POST', '/api/v1/labels', token, { ...body, name: `${name}-${i}` });
    return String(this.#must(r, `create label ${name}`).uid);
  }

  async #ensureApp(uid: string | undefined, labelUid: string, token: string): Promise<string> {
    if (uid !== undefined) {
      const s = await this.api('GET', `/api/v1/applications/${uid}/state`, token);
      if (s.status === 200 && (s.json as { status?: string }).status === 'ALLOCATED') return uid;
    }
    const label = this.#must(await this.api('GET', `/api/v1/labels/${labelUid}`, token), 'read label');
    const created = this.#must(
      await this.api('POST', '/api/v1/applications', token, { label: label.name, version: label.version }),
      'create application',
    );
    const appUid = String(created.uid);
    await this.waitAllocated(appUid, token);
    return appUid;
  }

  /** Waits (bounded) until the application is ALLOCATED; returns its resource's ipaddr. */
  async waitAllocated(uid: string, token: string, timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
      const s = await this.api('GET', `/api/v1/applications/${uid}/state`, token);
      const status = (s.json as { status?: string }).status;
      if (status === 'ALLOCATED') {
        const res = this.#must(await this.api('GET', `/api/v1/applications/${uid}/resource`, token), 'read resource');
        const ip = String(res.ipaddr);
        this.#resourceBlock = Number(ip.split('.')[1]);
        return ip;
      }
      if (status === 'ERROR' || status === 'DEALLOCATED')
        throw new Error(`application ${uid} ended ${status}: ${JSON.stringify(s.json).slice(0, 300)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`application ${uid} was not ALLOCATED within ${timeoutMs} ms`);
  }

  /** Makes every fixture exist again (a fuzzed DELETE or deallocate may have removed it) and leaves maintenance off. */
  async ensureFixtures(): Promise<Fixtures> {
    const admin = this.node.token;
    this.#must(await this.api('POST', '/api/v1/nodes/this/maintenance', admin, { enabled: false }), 'maintenance off');
    const f = this.fixtures;
    const userToken = await this.#ensureUser('fuzz-user', f?.user);
    const otherToken = await this.#ensureUser('fuzz-other', f?.other);
    const victimToken =
      f?.victim !== undefined && (await this.api('GET', '/api/v1/users/fuzz-victim', admin)).status === 200
        ? null
        : await this.#ensureUser('fuzz-victim', undefined);
    const labelUid = await this.#ensureLabel(f?.labelUid, 'fuzz-label', userToken);
    const otherLabelUid = await this.#ensureLabel(f?.otherLabelUid, 'fuzz-other-label', otherToken);
    const appUid = await this.#ensureApp(f?.appUid, labelUid, userToken);
    const otherAppUid = await this.#ensureApp(f?.otherAppUid, otherLabelUid, otherToken);
    this.fixtures = {
      adminToken: admin,
      user: { name: 'fuzz-user', token: userToken },
      other: { name: 'fuzz-other', token: otherToken },
      victim: { name: 'fuzz-victim', tokenId: victimToken === null ? (f?.victim.tokenId ?? '') : (victimToken.split('.')[0] ?? '') },
      labelUid,
      otherLabelUid,
      appUid,
      otherAppUid,
    };
    return this.fixtures;
  }
}
