import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ShoalApiError, ShoalClient } from '../index.js';
import { startFakeApi } from './fake-api.js';

const T = '2024-01-01T00:00:00.000Z';

describe('the stand-in node checks its answers against the API schemas', () => {
  it('refuses to serve a route the API does not have', async () => {
    const api = await startFakeApi();
    try {
      assert.throws(() => api.route('GET', '/api/v1/machines', () => ({ json: {} })), /the API has no route GET \/api\/v1\/machines/);
    } finally {
      await api.close();
    }
  });

  it('answers a drifted body with 500 FAKE_API_DRIFT naming the field, and close() then fails', async () => {
    const api = await startFakeApi();
    // "role" must be admin or user, and created_at is required
    api.route('GET', '/api/v1/users/me', () => ({ json: { name: 'ci', role: 'operator' } }));
    const err = await new ShoalClient({ url: api.url, token: 't' }).me().catch((e: unknown) => e);
    assert.ok(err instanceof ShoalApiError);
    assert.equal(err.code, 'FAKE_API_DRIFT');
    assert.match(err.message, /GET \/api\/v1\/users\/me 200: the body is not the API's: .*\/role/);
    assert.match(err.message, /\/created_at: Expected required property/);
    await assert.rejects(api.close(), /the stand-in node answered what the real API never sends:\nGET \/api\/v1\/users\/me 200/);
  });

  it('checks the success status and the error shape too', async () => {
    const api = await startFakeApi();
    api.route('POST', '/api/v1/users', () => ({ json: { name: 'ci', role: 'user', token: 'x', created_at: T } })); // 200, not 201
    api.route('GET', '/api/v1/users/ci', () => ({ status: 404, json: { message: 'no user' } }));
    const client = new ShoalClient({ url: api.url, token: 't' });
    await assert.rejects(client.createUser({ name: 'ci' }), /POST \/api\/v1\/users answers 201 on success, not 200/);
    await assert.rejects(client.getUser('ci'), /GET \/api\/v1\/users\/ci 404: not the API's error shape/);
    assert.equal(api.drift.length, 2);
    await assert.rejects(api.close());
  });

  it('passes an answer that matches, and one marked offSchema', async () => {
    const api = await startFakeApi();
    api.route('GET', '/api/v1/users/me', () => ({ json: { name: 'ci', role: 'user', created_at: T } }));
    api.route('GET', '/api/v1/users', () => ({ json: { nope: true }, offSchema: 'testing a client defence' }));
    const client = new ShoalClient({ url: api.url, token: 't' });
    assert.equal((await client.me()).name, 'ci');
    await assert.rejects(client.listUsers(), /expected a page/);
    await api.close();
  });

  it('refuses a state event whose data the API never sends', async () => {
    const api = await startFakeApi();
    try {
      assert.throws(
        () =>
          api.sendEvent('1', 'state', {
            id: '1',
            application_uid: '0b7d6c1e-3f1a-4c2b-9d7e-1a2b3c4d5e6f',
            status: 'NEW',
            description: '',
            created_at: T,
          }),
        /a state event the API never sends: \/id: Unexpected property/,
      );
      assert.throws(
        () => api.sendEvent('2', 'state', { application_uid: 'x', status: 'RUNNING', description: '', created_at: T }),
        /\/application_uid|\/status/,
      );
    } finally {
      await api.close();
    }
  });
});
