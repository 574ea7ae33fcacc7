import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProgressNotes } from './progress-notes.js';

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ok(), what);
}

test('progress notes: the first is written, later ones throttled (the newest wins), none after close()', async () => {
  const written: string[] = [];
  const notes = new ProgressNotes(
    async (n) => void written.push(n),
    (err) => assert.fail(err),
    30,
  );
  notes.push('a');
  await until('the first note is written', () => written.length === 1);
  notes.push('b');
  notes.push('c');
  await until('the newest pending note is written after the pause', () => written.length === 2);
  assert.deepEqual(written, ['a', 'c']);
  notes.push('d');
  await notes.close();
  notes.push('e');
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(written, ['a', 'c'], 'a pending note is dropped by close(), later ones ignored');
});

test('progress notes: close() waits for a write in flight; a failing write is reported, not thrown', async () => {
  let release: () => void = () => undefined;
  const errors: string[] = [];
  let started = 0;
  const notes = new ProgressNotes(
    () => {
      started++;
      return new Promise<void>((_resolve, reject) => (release = () => reject(new Error('store away'))));
    },
    (err) => errors.push(err.message),
    30,
  );
  notes.push('a');
  await until('the write started', () => started === 1);
  let closed = false;
  const closing = notes.close().then(() => (closed = true));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(closed, false, 'close() resolved while a write was in flight');
  release();
  await closing;
  assert.deepEqual(errors, ['store away']);
});
