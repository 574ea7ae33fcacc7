import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureTls, type TlsMaterial } from './tls.js';

/** An HTTPS round trip to 127.0.0.1 trusting only `ca`, naming the server `servername`. */
async function handshake(tls: TlsMaterial, ca: string, servername?: string): Promise<string> {
  const server = createServer({ key: tls.key, cert: tls.cert }, (_req, res) => res.end('hello over tls'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  try {
    return await new Promise<string>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, path: '/', ca, ...(servername ? { servername, headers: { host: servername } } : {}), timeout: 10_000 },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve(body));
        },
      );
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.end();
    });
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

describe('ensureTls', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-api-tls-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates a CA and a node certificate it signed, with 0600 keys and SANs for the hosts', async () => {
    const tls = await ensureTls(dir, ['127.0.0.1', 'node-a', '0.0.0.0']);
    assert.equal(tls.generated, true);
    assert.equal(tls.caPath, join(dir, 'tls', 'ca.crt'));
    for (const f of ['ca.key', 'node.key']) assert.equal((await stat(join(dir, 'tls', f))).mode & 0o777, 0o600, f);
    assert.equal(await readFile(tls.caPath, 'utf8'), tls.ca);

    const ca = new X509Certificate(tls.ca);
    const cert = new X509Certificate(tls.cert);
    assert.equal(ca.ca, true);
    assert.equal(cert.ca, false);
    assert.ok(cert.checkIssued(ca));
    assert.ok(cert.verify(ca.publicKey), 'node certificate verifies against the CA');
    assert.equal(cert.checkHost('node-a'), 'node-a');
    assert.equal(cert.checkHost('localhost'), 'localhost');
    assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(cert.checkIP('::1'), '::1');
    assert.equal(cert.checkIP('0.0.0.0'), undefined, 'a wildcard bind is no name');
    assert.equal(cert.checkHost('other-host'), undefined);
    assert.equal(await handshake(tls, tls.ca), 'hello over tls');
    assert.equal(await handshake(tls, tls.ca, 'node-a'), 'hello over tls');
  });

  it('reuses the files on a later start, and re-issues only the node certificate for a new host', async () => {
    const first = await ensureTls(dir, ['127.0.0.1', 'node-a']);
    const again = await ensureTls(dir, ['node-a']);
    assert.equal(again.generated, false);
    assert.equal(again.cert, first.cert);
    assert.equal(again.key, first.key);

    const moved = await ensureTls(dir, ['node-b.example']);
    assert.equal(moved.generated, true);
    assert.equal(moved.ca, first.ca, 'the CA stays: clients keep trusting the node');
    assert.notEqual(moved.cert, first.cert);
    assert.equal(new X509Certificate(moved.cert).checkHost('node-b.example'), 'node-b.example');
    assert.equal(await handshake(moved, first.ca, 'node-b.example'), 'hello over tls');
  });

  it('a client trusting another CA refuses the node', async () => {
    const other = await ensureTls(await mkdtemp(join(dir, 'other-')), []);
    const tls = await ensureTls(dir, []);
    await assert.rejects(handshake(tls, other.ca), /self[- ]signed|unable to verify|certificate/i);
  });

  it('uses a given certificate and key, and refuses a key that does not match', async () => {
    const src = await ensureTls(await mkdtemp(join(dir, 'src-')), ['own-host']);
    const other = await ensureTls(await mkdtemp(join(dir, 'src2-')), []);
    const own = await mkdtemp(join(dir, 'own-'));
    await writeFile(join(own, 'c.pem'), src.cert);
    await writeFile(join(own, 'k.pem'), src.key, { mode: 0o600 });
    await writeFile(join(own, 'wrong.pem'), other.key, { mode: 0o600 });
    const used = await ensureTls(join(own, 'data'), ['x'], { cert: join(own, 'c.pem'), key: join(own, 'k.pem') });
    assert.equal(used.cert, src.cert);
    assert.equal(used.key, src.key);
    assert.equal(used.caPath, join(own, 'c.pem'));
    await assert.rejects(stat(join(own, 'data', 'tls')), { code: 'ENOENT' }, 'nothing generated');
    await assert.rejects(
      ensureTls(dir, [], { cert: join(own, 'c.pem'), key: join(own, 'wrong.pem') }),
      /does not belong to the certificate/,
    );
    await assert.rejects(ensureTls(dir, [], { cert: join(own, 'missing.pem'), key: join(own, 'k.pem') }), /tls\.cert: cannot read/);
    await assert.rejects(ensureTls(dir, [], { cert: join(own, 'k.pem'), key: join(own, 'k.pem') }), /is not a PEM certificate/);
  });
});
