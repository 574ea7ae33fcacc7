import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { bearer, createUser, startApiNode, testLabelBody, type ApiTestNode } from './testing/api-harness.js';

interface ErrorBody {
  error: { code: string; message: string };
}

describe('API: user tokens and user deletion over HTTP', () => {
  let t: ApiTestNode;
  let robotUser: string;
  before(async () => {
    t = await startApiNode();
    robotUser = await createUser(t, 'robot');
  });
  after(async () => {
    await t?.close();
  });

  it('a user makes, lists and revokes their own tokens; a revoked token gets 401 at the next request', async () => {
    const made = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users/robot/tokens',
      headers: bearer(robotUser),
      payload: { name: 'nightly', expires_in: '12h' },
    });
    assert.equal(made.statusCode, 201, made.body);
    const tok = made.json<{ id: string; token: string; expires_at: string; name: string }>();
    assert.equal(tok.name, 'nightly');
    assert.ok(tok.expires_at);
    assert.equal((await t.app.inject({ url: '/api/v1/users/me', headers: bearer(tok.token) })).statusCode, 200);

    const list = await t.app.inject({ url: '/api/v1/users/robot/tokens', headers: bearer(robotUser) });
    assert.equal(list.statusCode, 200);
    assert.deepEqual(
      list.json<{ items: Array<{ name: string }> }>().items.map((i) => i.name),
      ['initial', 'nightly'],
    );
    assert.ok(!list.body.includes(tok.token.split('.')[1]!), 'never the secret');

    const admins = await t.app.inject({ url: '/api/v1/users/admin/tokens', headers: bearer(robotUser) });
    assert.equal(admins.statusCode, 404, "another user's tokens look like an unknown user");

    const bad = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users/robot/tokens',
      headers: bearer(robotUser),
      payload: { expires_in: 'later' },
    });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.json<ErrorBody>().error.message, /expires_in/);

    const revoked = await t.app.inject({ method: 'DELETE', url: `/api/v1/users/robot/tokens/${tok.id}`, headers: bearer(robotUser) });
    assert.equal(revoked.statusCode, 204);
    const after = await t.app.inject({ url: '/api/v1/users/me', headers: bearer(tok.token) });
    assert.equal(after.statusCode, 401);
    const again = await t.app.inject({ method: 'DELETE', url: `/api/v1/users/robot/tokens/${tok.id}`, headers: bearer(robotUser) });
    assert.equal(again.statusCode, 404);
  });

  it('DELETE /users/{name} is refused (409) while the user has live work; ?force=true deallocates it', async () => {
    const token = await createUser(t, 'leaver');
    const label = await t.app.inject({
      method: 'POST',
      url: '/api/v1/labels',
      headers: bearer(token),
      payload: testLabelBody('leaver-label'),
    });
    assert.equal(label.statusCode, 201, label.body);
    const app = await t.app.inject({
      method: 'POST',
      url: '/api/v1/applications',
      headers: bearer(token),
      payload: { label: 'leaver-label' },
    });
    assert.equal(app.statusCode, 201, app.body);
    const uid = app.json<{ uid: string }>().uid;

    const refused = await t.app.inject({ method: 'DELETE', url: '/api/v1/users/leaver', headers: bearer(t.adminToken) });
    assert.equal(refused.statusCode, 409);
    assert.match(refused.json<ErrorBody>().error.message, /live application.*force/);
    assert.equal((await t.app.inject({ url: '/api/v1/users/me', headers: bearer(token) })).statusCode, 200, 'still there');

    const gone = await t.app.inject({ method: 'DELETE', url: '/api/v1/users/leaver?force=true', headers: bearer(t.adminToken) });
    assert.equal(gone.statusCode, 204, gone.body);
    assert.equal((await t.app.inject({ url: '/api/v1/users/me', headers: bearer(token) })).statusCode, 401);
    const state = await t.app.inject({ url: `/api/v1/applications/${uid}/state`, headers: bearer(t.adminToken) });
    assert.ok(['DEALLOCATE', 'DEALLOCATED'].includes(state.json<{ status: string }>().status), state.body);
  });
});
