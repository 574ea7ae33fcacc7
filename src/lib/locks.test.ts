import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyedMutex, Mutex, Semaphore } from './locks.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('locks', () => {
  it('a semaphore lets `size` holders in and the next one when a slot is released', async () => {
    const s = new Semaphore(2);
    const [, r1] = await s.acquire();
    const [, r2] = await s.acquire();
    let third = false;
    const p3 = s.acquire().then(([, r]) => {
      third = true;
      return r;
    });
    await tick();
    assert.equal(third, false);
    assert.equal(s.getValue(), 0);
    r1();
    r1(); // twice is harmless
    const r3 = await p3;
    assert.equal(third, true);
    let fourth = false;
    const p4 = s.acquire().then(([, r]) => {
      fourth = true;
      return r;
    });
    await tick();
    assert.equal(fourth, false, 'a double release must not free two slots');
    r2();
    const r4 = await p4;
    assert.equal(fourth, true);
    r3();
    r4();
    assert.equal(s.getValue(), 2);
  });

  it('semaphore.runExclusive runs at most `size` callbacks at once and frees the slot when one throws', async () => {
    const s = new Semaphore(2);
    let active = 0;
    let peak = 0;
    const work = async (i: number): Promise<number> => {
      active++;
      peak = Math.max(peak, active);
      await tick();
      active--;
      if (i === 3) throw new Error('boom');
      return i;
    };
    const results = await Promise.allSettled([0, 1, 2, 3, 4, 5].map((i) => s.runExclusive(() => work(i))));
    assert.equal(peak, 2);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled'],
    );
    assert.equal(s.getValue(), 2);
  });

  it('a mutex runs callbacks one at a time in call order, also after one failed', async () => {
    const m = new Mutex();
    const order: string[] = [];
    const a = m.runExclusive(async () => {
      order.push('a start');
      await tick();
      order.push('a end');
    });
    const b = m.runExclusive(async () => {
      order.push('b');
      throw new Error('b failed');
    });
    const c = m.runExclusive(async () => order.push('c'));
    await a;
    await assert.rejects(b, /b failed/);
    await c;
    assert.deepEqual(order, ['a start', 'a end', 'b', 'c']);
    assert.equal(m.isLocked(), false);
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
    await assert.rejects(
      m.run('a', async () => Promise.reject(new Error('x'))),
      /x/,
    );
    assert.equal(await m.run('a', async () => 7), 7, 'a failed call does not block the key');
    assert.equal(m.size, 0, 'finished keys are forgotten');
  });
});
