import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reuseScope } from './reuse-scope.js';

const base = { application: 'a', label: 'ci', node: 'n1' };

describe('reuseScope', () => {
  it('is the label owner when the owner allocates from their own label', () => {
    assert.equal(reuseScope({ ...base, labelOwner: 'alice', owner: 'alice' }), 'alice');
  });
  it('separates another user allocating from the label: neither reads the other’s reused disks', () => {
    const alice = reuseScope({ ...base, labelOwner: 'alice', owner: 'alice' });
    const bob = reuseScope({ ...base, labelOwner: 'alice', owner: 'bob' });
    const carol = reuseScope({ ...base, labelOwner: 'alice', owner: 'carol' });
    assert.notEqual(bob, alice);
    assert.notEqual(bob, carol);
    assert.notEqual(reuseScope({ ...base, labelOwner: 'bob', owner: 'bob' }), reuseScope({ ...base, labelOwner: 'alice', owner: 'bob' }));
  });
  it('falls back to the label name alone when no owners are given', () => {
    assert.equal(reuseScope(undefined), '');
    assert.equal(reuseScope(base), '');
  });
});
