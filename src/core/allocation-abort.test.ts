import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StatusNone, type AllocateContext, type AllocateResult, type ResourceDriver, type ResourceStatus } from '../contract/index.js';
import { ALICE, Harness, waitFor, waitStatus } from './testing/core-harness.js';
import type { DriverInstance } from './index.js';

/** A driver whose allocate() waits until its AllocateContext.signal aborts (like a download nobody needs). */
class WaitingDriver implements ResourceDriver {
  readonly started: AllocateContext[] = [];
  readonly reasons: string[] = [];
  name(): string {
    return 'waiting';
  }
  async prepare(): Promise<void> {}
  async validateDefinition(): Promise<void> {}
  allocate(_def: string, _meta: Record<string, unknown>, context?: AllocateContext): Promise<AllocateResult> {
    this.started.push(context!);
    return new Promise((_resolve, reject) => {
      const signal = context?.signal;
      assert.ok(signal, 'the core gives every allocation a signal');
      signal.addEventListener('abort', () => {
        this.reasons.push((signal.reason as Error).message);
        reject(new Error(`download cancelled: ${(signal.reason as Error).message}`));
      });
    });
  }
  async status(): Promise<ResourceStatus> {
    return StatusNone;
  }
  async snapshot(): Promise<string> {
    return '{}';
  }
  async deallocate(): Promise<void> {}
}

const label = { name: 'slow', definitions: [{ driver: 'waiting', options: {}, requirements: { cpu: 1, ram: 1 } }], metadata: {} };

async function withWaitingNode(
  fn: (h: Harness, driver: WaitingDriver, node: Awaited<ReturnType<Harness['node']>>) => Promise<void>,
): Promise<void> {
  const h = await Harness.create('sqlite');
  const driver = new WaitingDriver();
  const extra: DriverInstance = {
    instance: 'waiting',
    driver,
    enabled: true,
    fingerprint: { health: 'healthy', description: 'waits', attributes: {} },
  };
  try {
    await fn(h, driver, await h.node({ extraDrivers: [extra] }));
  } finally {
    await h.close();
  }
}

describe('the core aborts allocations nobody wants (AllocateContext.signal)', () => {
  test('deallocating an application while it allocates aborts its signal; it ends DEALLOCATED with the reason', async () => {
    await withWaitingNode(async (_h, driver, n) => {
      await n.core.createLabel(ALICE, label);
      const app = await n.core.createApplication(ALICE, { label: 'slow' });
      await waitFor('the allocation to start', () => driver.started.length === 1);
      assert.equal(driver.started[0]!.signal!.aborted, false);
      await n.core.deallocate(ALICE, app.uid);
      await waitStatus(n.core, app.uid, 'DEALLOCATED');
      assert.deepEqual(driver.reasons, ['the application was deallocated while it was being allocated']);
      const state = await n.core.getState(ALICE, app.uid);
      assert.match(state.description, /cancelled: the application was deallocated/);
    });
  });

  test('stopping the node aborts running allocations', async () => {
    await withWaitingNode(async (_h, driver, n) => {
      await n.core.createLabel(ALICE, label);
      await n.core.createApplication(ALICE, { label: 'slow' });
      await waitFor('the allocation to start', () => driver.started.length === 1);
      await n.close();
      assert.deepEqual(driver.reasons, ['the node is stopping']);
    });
  });
});
