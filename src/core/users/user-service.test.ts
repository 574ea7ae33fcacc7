import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { Store } from '../../store/store.js';
import { hashSecret, newToken, verificationCount } from './tokens.js';
import { UserService } from './user-service.js';

describe('UserService.authenticate: unknown token ids cost what known ones cost', () => {
  it('runs one argon2 check for a known id and one (against a dummy hash) for an unknown id', async () => {
    const known = newToken();
    const user = { id: 'ci.0123456789abcdef', name: 'ci', role: 'user' as const, created_at: '2020-01-01T00:00:00Z' };
    const token = {
      id: known.id,
      user_id: user.id,
      name: 'initial',
      hash: await hashSecret(known.secret),
      created_at: user.created_at,
      expires_at: null,
    };
    const store = { getTokenAuth: async (id: string) => (id === known.id ? { token, user } : undefined) } as unknown as Store;
    const users = new UserService(store, pino({ level: 'silent' }), 0);

    let before = verificationCount();
    assert.equal(await users.authenticate(newToken().token), null, 'unknown id');
    assert.equal(verificationCount() - before, 1, 'the unknown id ran an argon2 check');

    before = verificationCount();
    assert.equal(await users.authenticate(`${known.id}.${newToken().secret}`), null, 'known id, wrong secret');
    assert.equal(verificationCount() - before, 1);

    before = verificationCount();
    assert.deepEqual(await users.authenticate(known.token), { id: user.id, name: 'ci', role: 'user' });
    assert.equal(verificationCount() - before, 1);

    before = verificationCount();
    assert.equal(await users.authenticate('not-a-token'), null, 'malformed: its shape alone says so');
    assert.equal(verificationCount() - before, 0);
  });
});
