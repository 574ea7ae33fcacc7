import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CoreError } from './errors.js';
import { ALICE, Harness, testLabel, type TestNode } from './testing/core-harness.js';

const deep = (n: number): Record<string, unknown> => (n === 0 ? { leaf: 'x' } : { d: deep(n - 1) });

describe('metadata limits belong to each core (no process-wide setting)', () => {
  let h: Harness;
  let strict: TestNode;
  let lax: TestNode;

  before(async () => {
    h = await Harness.create('sqlite');
    strict = await h.node({ name: 'strict', limits: { metadata: { depth: 2, keys: 1000, keyLength: 128, bytes: 65_536 } } });
    lax = await h.node({ name: 'lax' });
  });
  after(async () => {
    await h.close();
  });

  test("one core's tighter depth limit refuses what another core in the same process accepts", async () => {
    await assert.rejects(
      strict.core.createLabel(ALICE, testLabel('deep-strict', { metadata: deep(3) })),
      (e: unknown) => e instanceof CoreError && e.code === 'INVALID' && /depth/.test(e.message),
    );
    const ok = await lax.core.createLabel(ALICE, testLabel('deep-lax', { metadata: deep(3) }));
    assert.equal(ok.name, 'deep-lax');
    await assert.rejects(
      strict.core.createApplication(ALICE, { label: 'deep-lax', metadata: deep(3) }),
      (e: unknown) => e instanceof CoreError && e.code === 'INVALID' && /depth/.test(e.message),
    );
  });
});
