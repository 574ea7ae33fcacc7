import assert from 'node:assert/strict';
import { test } from 'node:test';
import { APPLICATION_STATUSES, FINAL_STATUSES } from '../../model/index.js';
import { canTransition, checkedFrom, TRANSITIONS } from './states.js';

test('state machine: the allowed transitions of PRODUCT.md §1', () => {
  const allowed = [
    'NEW→ELECTED',
    'NEW→DEALLOCATED',
    'NEW→ERROR',
    'ELECTED→ALLOCATED',
    'ELECTED→NEW',
    'ELECTED→DEALLOCATE',
    'ELECTED→ERROR',
    'ELECTED→ELECTED',
    'ALLOCATED→DEALLOCATE',
    'ALLOCATED→ERROR',
    'DEALLOCATE→DEALLOCATED',
    'DEALLOCATE→ERROR',
  ];
  const actual: string[] = [];
  for (const f of APPLICATION_STATUSES) for (const t of APPLICATION_STATUSES) if (canTransition(f, t)) actual.push(`${f}→${t}`);
  assert.deepEqual(actual.sort(), [...allowed].sort());
});

test('state machine: refused transitions', () => {
  for (const f of FINAL_STATUSES) assert.deepEqual(TRANSITIONS[f], [], `${f} is final`);
  assert.equal(canTransition('NEW', 'ALLOCATED'), false, 'no allocation without election');
  assert.equal(canTransition('ALLOCATED', 'DEALLOCATED'), false, 'deallocation goes through DEALLOCATE');
  assert.equal(canTransition('ALLOCATED', 'NEW'), false);
  assert.equal(canTransition('DEALLOCATE', 'ALLOCATED'), false);
  assert.equal(canTransition('NEW', 'NEW'), false);
  assert.throws(() => checkedFrom(['NEW', 'ALLOCATED'], 'DEALLOCATED'), /ALLOCATED → DEALLOCATED/);
  assert.deepEqual(checkedFrom(['NEW'], 'DEALLOCATED'), ['NEW']);
});
