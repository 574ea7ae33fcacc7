import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkMetadataLimits, nestingDepth } from './metadata-limits.js';

const limits = { depth: 3, keys: 5, keyLength: 4, bytes: 60 };

function deep(n: number): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  let cur = root;
  for (let i = 1; i < n; i++) {
    const next: Record<string, unknown> = {};
    cur.k = next;
    cur = next;
  }
  return root;
}

describe('metadata limits', () => {
  it('nestingDepth needs no recursion and stops past the bound', () => {
    assert.equal(nestingDepth(1, 10), 0);
    assert.equal(nestingDepth({}, 10), 1);
    assert.equal(nestingDepth({ a: [1, { b: [] }] }, 10), 4);
    assert.equal(nestingDepth(deep(200_000), 100), 101, 'a tree far deeper than the stack allows');
  });

  it('each limit is refused with its name, the value and the setting', () => {
    assert.doesNotThrow(() => checkMetadataLimits({ a: { b: 1 } }, 'metadata', limits));
    assert.throws(
      () => checkMetadataLimits(deep(4), 'metadata', limits),
      /nested deeper than the limit of 3 levels.*limits\.metadata\.depth/,
    );
    assert.throws(
      () => checkMetadataLimits({ a: [1, 2, 3, 4, 5] }, 'metadata', limits),
      /more than the limit of 5 keys.*limits\.metadata\.keys/,
    );
    assert.throws(
      () => checkMetadataLimits({ a: { abcde: 1 } }, 'metadata', limits),
      /"abcde…" at metadata\.a is 5 characters long, over the limit of 4/,
    );
    assert.throws(
      () => checkMetadataLimits({ a: 'x'.repeat(60) }, 'metadata', limits),
      /is 68 bytes as JSON, over the limit of 60.*limits\.metadata\.bytes/,
    );
    assert.throws(() => checkMetadataLimits(deep(200_000), 'metadata', limits), /nested deeper/);
  });
});
