import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Counter, Registry } from 'prom-client';
import { DriverError } from '../../contract/index.js';
import { callDriver, DriverTimeout } from './call-driver.js';

function counter(): { c: Counter<'driver' | 'outcome'>; text: () => Promise<string> } {
  const registry = new Registry();
  const c = new Counter({ name: 'calls_total', help: 'calls', labelNames: ['driver', 'outcome'] as const, registers: [registry] });
  return { c, text: () => registry.getSingleMetricAsString('calls_total') };
}

describe('callDriver', () => {
  test('a value: ok, counted as success, the signal is the caller’s', async () => {
    const m = counter();
    const abort = new AbortController();
    let seen: AbortSignal | undefined;
    const r = await callDriver({
      what: 'x on t',
      timeoutMs: 1_000,
      abort,
      metric: { counter: m.c, driver: 't' },
      run: (s) => ((seen = s), 42),
    });
    assert.deepEqual(r, { ok: true, value: 42 });
    assert.equal(seen, abort.signal);
    assert.match(await m.text(), /calls_total\{driver="t",outcome="success"\} 1/);
  });

  test('a DriverError (also thrown synchronously) becomes its code and message; the failure outcome is the caller’s', async () => {
    const m = counter();
    const r = await callDriver({
      what: 'x on t',
      timeoutMs: 1_000,
      metric: { counter: m.c, driver: 't', failureOutcome: 'retry' },
      run: () => {
        throw new DriverError('BACKEND', 'daemon away');
      },
    });
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.reason, 'BACKEND: daemon away');
    assert.equal(!r.ok && r.timedOut, false);
    assert.match(await m.text(), /outcome="retry"\} 1/);
  });

  test('a timeout aborts the signal with the given reason and hands a late result to onLate', async () => {
    const keepAlive = setInterval(() => {}, 1_000); // the timeout's timer does not hold the event loop
    try {
      const abort = new AbortController();
      let finish!: (v: string) => void;
      let onLate!: (v: string) => void;
      const late = new Promise<string>((resolve) => (onLate = resolve));
      const out = await callDriver<string>({
        what: 'allocate on t',
        timeoutMs: 20,
        abort,
        timeoutReason: 'the allocation timed out',
        run: () => new Promise<string>((res) => (finish = res)),
        onLate,
      });
      assert.ok(!out.ok && out.timedOut && out.error instanceof DriverTimeout);
      assert.match(out.reason, /allocate on t did not finish within 20 ms/);
      assert.equal((abort.signal.reason as Error).message, 'the allocation timed out');
      finish('made-late');
      assert.equal(await late, 'made-late');
    } finally {
      clearInterval(keepAlive);
    }
  });
});
