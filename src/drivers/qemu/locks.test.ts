import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyedMutex, Semaphore } from './locks.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('qemu locks', () => {
  it('a semaphore lets `size` holders in and the next one when a slot is released', async () => {
    const s = new Semaphore(2);
    const r1 = await s.acquire();
    const r2 = await s.acquire();
    let third = false;
    const p3 = s.acquire().then((r) => {
      third = true;
      return r;
    });
    await tick();
    assert.equal(third, false);
    assert.equal(s.waiting, 1);
    r1();
    r1(); // twice is harmless
    const r3 = await p3;
    assert.equal(third, true);
    let fourth = false;
    void s.acquire().then(() => (fourth = true));
    await tick();
    assert.equal(fourth, false, 'a double release must not free two slots');
    r2();
    await tick();
    assert.equal(fourth, true);
    r3();
  });

  it('a keyed mutex runs calls for one key in order and other keys in parallel', async () => {
    const m = new KeyedMutex();
    const order: string[] = [];
    let releaseA!: () => void;
    const a1 = m.run('a', async () => {
      order.push('a1 start');
      await new Promise<void>((r) => (releaseA = r));
      order.push('a1 end');
    });
    const a2 = m.run('a', async () => {
      order.push('a2');
    });
    const b = m.run('b', async () => {
      order.push('b');
    });
    await b;
    await tick();
    assert.deepEqual(order, ['a1 start', 'b']);
    releaseA();
    await Promise.all([a1, a2]);
    assert.deepEqual(order, ['a1 start', 'b', 'a1 end', 'a2']);
    await assert.rejects(m.run('a', async () => Promise.reject(new Error('x'))), /x/);
    assert.equal(await m.run('a', async () => 7), 7, 'a failed call does not block the key');
  });
});
