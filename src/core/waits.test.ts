import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { StoreSignal } from '../store/store.js';
import { settledWithin, untilStateHolds } from './waits.js';

/** A store's signal side only: listeners and a way to send them a signal. */
function signals() {
  const listeners = new Set<(s: StoreSignal) => void>();
  return {
    listeners,
    onSignal(l: (s: StoreSignal) => void) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    send(s: StoreSignal) {
      for (const l of listeners) l(s);
    },
  };
}

/** A check whose answers the test gives one at a time, in order. */
function scriptedCheck() {
  const calls: ((v: boolean) => void)[] = [];
  let onCall: (() => void) | undefined;
  return {
    calls,
    holds: () =>
      new Promise<boolean>((r) => {
        calls.push(r);
        onCall?.();
      }),
    /** resolves when the check has been called `n` times */
    called: (n: number) =>
      new Promise<void>((r) => {
        onCall = () => calls.length >= n && r();
        onCall();
      }),
  };
}

test('untilStateHolds: true at once when the state already holds; the listener is gone after', async () => {
  const s = signals();
  assert.equal(await untilStateHolds(s, async () => true, Infinity), true);
  assert.equal(s.listeners.size, 0);
});

test('untilStateHolds: rechecks at each state event or resync and resolves when it holds', async () => {
  const s = signals();
  const check = scriptedCheck();
  const waiting = untilStateHolds(s, check.holds, Infinity);
  await check.called(1);
  check.calls[0]!(false);
  s.send({ kind: 'events', lastId: 7 });
  await check.called(2);
  s.send({ kind: 'resync' });
  check.calls[1]!(false);
  await check.called(3);
  check.calls[2]!(true);
  assert.equal(await waiting, true);
  assert.equal(check.calls.length, 3);
  assert.equal(s.listeners.size, 0);
});

test('untilStateHolds: false after the timeout while the state never holds', async () => {
  const s = signals();
  assert.equal(await untilStateHolds(s, async () => false, 5), false);
  assert.equal(s.listeners.size, 0);
});

test('untilStateHolds: a failing check rejects and leaves no listener', async () => {
  const s = signals();
  await assert.rejects(
    untilStateHolds(s, () => Promise.reject(new Error('database down')), Infinity),
    /database down/,
  );
  assert.equal(s.listeners.size, 0);
});

test('settledWithin: waits for every promise (rejected ones too), or gives up after the bound', async () => {
  const order: string[] = [];
  const slow = new Promise<void>((r) => setTimeout(r, 5)).then(() => order.push('slow'));
  await settledWithin([slow, Promise.reject(new Error('x'))], 60_000);
  assert.deepEqual(order, ['slow']);
  let never = false;
  await settledWithin([new Promise(() => {})], 5).then(() => (never = true));
  assert.equal(never, true);
});
