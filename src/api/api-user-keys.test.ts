import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bearer, createUser, startApiNode, type ApiTestNode } from './testing/api-harness.js';

interface KeyPair {
  pub: string;
  /** what `ssh-keygen -l` prints as the fingerprint */
  fingerprint: string;
  privateText: string;
}

/** A real key pair made by OpenSSH's ssh-keygen (the fingerprint we must agree with). */
function keygen(dir: string, name: string, type: string, bits?: number): KeyPair {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, ...(bits ? ['-b', String(bits)] : []), '-N', '', '-C', `${name}@test`, '-f', file]);
  const fingerprint = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${file}.pub`], { encoding: 'utf8' }).split(' ')[1]!;
  return { pub: readFileSync(`${file}.pub`, 'utf8').trim(), fingerprint, privateText: readFileSync(file, 'utf8') };
}

type KeyBody = { fingerprint: string; user: string; type: string; key: string; comment: string };
type ErrBody = { error: { code: string; message: string } };

describe("API: users' SSH keys", () => {
  let t: ApiTestNode;
  let dir: string;
  let ci: string;
  let bob: string;
  let ed: KeyPair;
  let ecdsa: KeyPair;
  let rsa: KeyPair;
  let weakRsa: KeyPair;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'shoal-keys-'));
    ed = keygen(dir, 'ed', 'ed25519');
    ecdsa = keygen(dir, 'ec', 'ecdsa', 256);
    rsa = keygen(dir, 'rsa', 'rsa', 2048);
    weakRsa = keygen(dir, 'weak', 'rsa', 1024);
    t = await startApiNode();
    ci = await createUser(t, 'ci');
    bob = await createUser(t, 'bob');
  });
  after(async () => {
    await t?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const post = (token: string, name: string, key: unknown) =>
    t.app.inject({ method: 'POST', url: `/api/v1/users/${name}/keys`, headers: bearer(token), payload: { key } });
  const list = async (token: string, name: string): Promise<KeyBody[]> => {
    const r = await t.app.inject({ url: `/api/v1/users/${name}/keys`, headers: bearer(token) });
    assert.equal(r.statusCode, 200, r.body);
    return r.json<{ items: KeyBody[] }>().items;
  };

  it('registers ed25519, ecdsa and RSA keys with the fingerprint ssh-keygen prints, and lists them', async () => {
    for (const k of [ed, ecdsa, rsa]) {
      const r = await post(ci, 'me', k.pub);
      assert.equal(r.statusCode, 201, r.body);
      const body = r.json<KeyBody>();
      assert.equal(body.fingerprint, k.fingerprint);
      assert.equal(body.user, 'ci');
      assert.equal(`${body.key} ${body.comment}`, k.pub);
      assert.equal(r.headers.location, `/api/v1/users/ci/keys/${encodeURIComponent(k.fingerprint)}`);
    }
    const mine = await list(ci, 'me');
    assert.deepEqual(mine.map((k) => k.fingerprint).sort(), [ed, ecdsa, rsa].map((k) => k.fingerprint).sort());
    assert.deepEqual(
      (await list(t.adminToken, 'ci')).map((k) => k.fingerprint).sort(),
      mine.map((k) => k.fingerprint).sort(),
      'an admin sees the same list',
    );
  });

  it('refuses a private key, garbage, an unknown type, a weak RSA key and two keys at once, naming the problem', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [ed.privateText, /private key/],
      ['ssh-ed25519 AAAAnotbase64key', /cannot be read/],
      ['hello', /must be "<type> <base64>/],
      ['ssh-dss AAAAB3NzaC1kc3MAAACBAP', /type "ssh-dss" is not accepted/],
      [weakRsa.pub, /1024 bits is too weak/],
      [`${ed.pub}\n${ecdsa.pub}`, /more than one line/],
      ['', /empty|fewer than 1 characters|must NOT have fewer/],
    ];
    for (const [key, re] of cases) {
      const r = await post(bob, 'me', key);
      assert.equal(r.statusCode, 400, `${String(key).slice(0, 30)}: ${r.body}`);
      assert.match(r.json<ErrBody>().error.message, re);
    }
    assert.deepEqual(await list(bob, 'me'), [], 'nothing was stored');
  });

  it('a key belongs to one user: registering it again (by anyone) is a conflict', async () => {
    const again = await post(bob, 'me', ed.pub);
    assert.equal(again.statusCode, 409, again.body);
    assert.match(again.json<ErrBody>().error.message, /registered already/);
    assert.equal((await post(ci, 'ci', ed.pub)).statusCode, 409);
  });

  it("users cannot see or touch another user's keys (404); admins can add, list and remove them", async () => {
    const r = await t.app.inject({ url: '/api/v1/users/ci/keys', headers: bearer(bob) });
    assert.equal(r.statusCode, 404);
    assert.equal((await post(bob, 'ci', weakRsa.pub.replace('weak', 'x'))).statusCode, 404);
    const del = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/users/ci/keys/${encodeURIComponent(ed.fingerprint)}`,
      headers: bearer(bob),
    });
    assert.equal(del.statusCode, 404);
    assert.equal((await list(ci, 'me')).length, 3, 'still there');

    const bobKey = keygen(dir, 'bobkey', 'ed25519');
    const added = await post(t.adminToken, 'bob', bobKey.pub);
    assert.equal(added.statusCode, 201, added.body);
    assert.equal(added.json<KeyBody>().user, 'bob');
    assert.deepEqual(
      (await list(bob, 'me')).map((k) => k.fingerprint),
      [bobKey.fingerprint],
    );
    const unknownUser = await post(t.adminToken, 'nobody', bobKey.pub);
    assert.equal(unknownUser.statusCode, 404);
  });

  it('removes a key by its URL-encoded fingerprint; a second removal and a malformed fingerprint are refused', async () => {
    const url = `/api/v1/users/me/keys/${encodeURIComponent(ecdsa.fingerprint)}`;
    const del = await t.app.inject({ method: 'DELETE', url, headers: bearer(ci) });
    assert.equal(del.statusCode, 204, del.body);
    assert.ok(!(await list(ci, 'me')).some((k) => k.fingerprint === ecdsa.fingerprint));
    assert.equal((await t.app.inject({ method: 'DELETE', url, headers: bearer(ci) })).statusCode, 404);
    const bad = await t.app.inject({ method: 'DELETE', url: '/api/v1/users/me/keys/MD5:ab', headers: bearer(ci) });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.json<ErrBody>().error.message, /fingerprint/);
    // once removed, anyone may register it
    assert.equal((await post(bob, 'me', ecdsa.pub)).statusCode, 201);
  });

  it("deleting a user removes the user's keys (the key may be registered again)", async () => {
    const eve = await createUser(t, 'eve');
    const k = keygen(dir, 'eve', 'ed25519');
    assert.equal((await post(eve, 'me', k.pub)).statusCode, 201);
    const del = await t.app.inject({ method: 'DELETE', url: '/api/v1/users/eve', headers: bearer(t.adminToken) });
    assert.equal(del.statusCode, 204);
    assert.equal((await post(bob, 'me', k.pub)).statusCode, 201, 'the key is free again');
  });
});
