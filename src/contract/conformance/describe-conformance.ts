import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { AllocateContext, AllocateResult, ResourceDriver } from '../driver.js';
import { StatusAllocated, StatusNone } from '../status.js';
import type { ConformanceOptions } from './conformance-options.js';
import { commonInvalidConfigs, commonInvalidVariants } from './definition-variants.js';
import { describeAccess } from './describe-access.js';
import { asDriverError, expectDriverError } from './expect-driver-error.js';

const DEFAULT_TIMEOUT_MS = 120_000;

/** A well-formed hwaddr no driver has handed out (random, locally administered unicast MAC). */
function unknownHwaddr(): string {
  const b = randomBytes(6);
  b[0] = (b[0]! & 0xfc) | 0x02; // randomBytes(6) has a byte 0
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** What the resource got as metadata, compared with what allocate was given; returns the problems. */
function metadataProblems(given: Record<string, unknown>, seen: Record<string, unknown> | string[]): string[] {
  const problems: string[] = [];
  for (const [key, value] of Object.entries(given)) {
    if (Array.isArray(seen)) {
      if (!seen.includes(key)) problems.push(`key ${key} did not reach the resource`);
    } else if (!(key in seen)) {
      problems.push(`key ${key} did not reach the resource`);
    } else if (JSON.stringify(seen[key]) !== JSON.stringify(value) && String(seen[key]) !== String(value)) {
      problems.push(`key ${key} reached the resource with another value`);
    }
  }
  return problems;
}

/**
 * Registers node:test tests that every driver must pass. The tests run in order over one driver
 * instance and two allocations (A and B); each test says plainly when an earlier step it needs failed.
 * An optional method the driver lacks, or an optional hook the test file does not give, is reported
 * as a named skip (never as a pass). Everything allocated is deallocated in after() hooks, and a
 * failed clean-up fails the suite.
 */
export function describeConformance(name: string, opts: ConformanceOptions): void {
  const timeout = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const metadata = opts.metadata ?? { SHOAL_CONFORMANCE: 'yes', JOB: '42' };

  describe(`driver conformance: ${name}`, { timeout: timeout * 20 }, () => {
    let driver: ResourceDriver | undefined;
    /** the instance opts.reopen() made over the same data dir (it deallocates A at the end) */
    let reopened: ResourceDriver | undefined;
    /** the first instance was closed (a node restart) before reopen() */
    let firstClosed = false;
    /** snapshot infos to hand to opts.removeSnapshot in after() */
    const snapshots: string[] = [];
    /** every hwaddr allocate returned and not yet successfully deallocated */
    const live = new Set<string>();
    let a: AllocateResult | undefined;
    let b: AllocateResult | undefined;
    let bDeallocated = false;

    const need = (): ResourceDriver => {
      assert.ok(driver, 'create() failed in before(): no driver instance');
      return driver;
    };
    const needAllocated = (): [AllocateResult, AllocateResult] => {
      assert.ok(a && b, 'the allocate test failed earlier: nothing to check');
      return [a, b];
    };
    const context = (): AllocateContext => ({ application: randomUUID(), label: 'conformance', node: 'conformance-node' });

    before(
      async () => {
        driver = await opts.create();
      },
      { timeout },
    );

    after(
      async () => {
        if (!driver) return;
        const problems: string[] = [];
        for (const hwaddr of live) {
          try {
            await (reopened ?? driver).deallocate(hwaddr);
            live.delete(hwaddr);
            if (await opts.existsOutside(hwaddr)) problems.push(`${hwaddr} still exists after deallocate`);
          } catch (err) {
            problems.push(`deallocate(${hwaddr}) failed in clean-up: ${(err as Error).message}`);
          }
        }
        for (const info of snapshots) {
          try {
            if (opts.removeSnapshot) await opts.removeSnapshot(info);
          } catch (err) {
            problems.push(`removeSnapshot failed in clean-up: ${(err as Error).message}`);
          }
        }
        if (reopened?.close) await reopened.close();
        if (driver.close && !firstClosed) await driver.close();
        assert.deepEqual(problems, [], 'clean-up left resources behind');
      },
      { timeout },
    );

    it('name() is non-empty and stable', () => {
      const d = need();
      const first = d.name();
      assert.equal(typeof first, 'string');
      assert.ok(first.trim().length > 0, 'name() is empty');
      assert.equal(d.name(), first, 'name() changed between calls');
    });

    const badConfigs = [
      ...commonInvalidConfigs(),
      ...(opts.invalidConfigs ?? []).map((c) => ({ what: `a bad config for ${c.field}`, ...c })),
    ];
    for (const bad of badConfigs) {
      it(`prepare rejects ${bad.what} with INVALID_CONFIG naming ${bad.field}`, { timeout }, async () => {
        const fresh = await opts.unprepared();
        try {
          await expectDriverError(() => fresh.prepare(bad.config), ['INVALID_CONFIG'], `prepare(${bad.config})`, bad.field);
        } finally {
          if (fresh.close) await fresh.close();
        }
      });
    }

    it('validateDefinition accepts the valid definition', { timeout }, async () => {
      await need().validateDefinition(opts.definition);
    });

    it('validateDefinition rejects each driver-specific invalid definition naming the field', { timeout }, async () => {
      assert.ok(opts.invalid.length > 0, 'the driver test must give at least one invalid definition');
      for (const bad of opts.invalid) {
        await expectDriverError(
          () => need().validateDefinition(bad.definition),
          ['INVALID_DEFINITION'],
          `invalid definition for ${bad.field}`,
          bad.field,
        );
      }
    });

    for (const variant of commonInvalidVariants(opts.definition)) {
      it(`validateDefinition rejects ${variant.what} naming ${variant.field}`, { timeout }, async () => {
        await expectDriverError(() => need().validateDefinition(variant.definition), ['INVALID_DEFINITION'], variant.what, variant.field);
      });
    }

    it('allocate with an invalid definition rejects and leaves nothing behind', { timeout }, async () => {
      const d = need();
      const before = d.listResources ? await d.listResources() : undefined;
      const bad = opts.invalid[0] ?? commonInvalidVariants(opts.definition)[0];
      assert.ok(bad, 'no invalid definition to try');
      await expectDriverError(
        () => d.allocate(bad.definition, metadata, context()),
        ['INVALID_DEFINITION'],
        'allocate(invalid)',
        bad.field,
      );
      if (d.listResources && before) {
        assert.deepEqual([...(await d.listResources())].sort(), [...before].sort(), 'listResources changed after a refused allocate');
      }
    });

    it('status of an unknown hwaddr is NONE', { timeout }, async () => {
      assert.equal(await need().status(unknownHwaddr()), StatusNone);
    });

    it('deallocate of a never-seen hwaddr succeeds', { timeout }, async () => {
      await need().deallocate(unknownHwaddr());
    });

    it('snapshot of an unknown hwaddr rejects with NOT_FOUND (or UNSUPPORTED)', { timeout }, async () => {
      await expectDriverError(() => need().snapshot(unknownHwaddr(), false), ['NOT_FOUND', 'UNSUPPORTED'], 'snapshot(unknown)');
    });

    it('allocate twice (concurrently) returns two distinct non-empty hwaddrs', { timeout }, async () => {
      const d = need();
      const results = await Promise.allSettled([
        d.allocate(opts.definition, metadata, context()),
        d.allocate(opts.definition, metadata, context()),
      ]);
      for (const r of results) if (r.status === 'fulfilled' && typeof r.value?.hwaddr === 'string') live.add(r.value.hwaddr);
      for (const r of results) if (r.status === 'rejected') throw r.reason;
      const [ra, rb] = [results[0], results[1]].map((r) => (r as PromiseFulfilledResult<AllocateResult>).value) as [
        AllocateResult,
        AllocateResult,
      ];
      for (const r of [ra, rb]) {
        assert.equal(typeof r.hwaddr, 'string', 'hwaddr must be a string');
        assert.ok(r.hwaddr.length > 0, 'hwaddr is empty');
        if (r.ipaddr !== undefined) assert.ok(isIP(r.ipaddr) !== 0, `ipaddr ${JSON.stringify(r.ipaddr)} is not an IP address`);
      }
      assert.notEqual(ra.hwaddr, rb.hwaddr, 'two allocations got the same hwaddr');
      if (ra.ipaddr && rb.ipaddr) assert.notEqual(ra.ipaddr, rb.ipaddr, 'two live allocations got the same ipaddr');
      a = ra;
      b = rb;
    });

    it('status is ALLOCATED right after allocate, and the resource exists from outside', { timeout }, async () => {
      const d = need();
      for (const r of needAllocated()) {
        assert.equal(await d.status(r.hwaddr), StatusAllocated, `status(${r.hwaddr})`);
        assert.equal(await opts.existsOutside(r.hwaddr), true, `${r.hwaddr} is not visible from outside the driver`);
      }
    });

    it('metadata given to allocate reaches the resource', { timeout }, async (t) => {
      const [ra] = needAllocated();
      if (!opts.readMetadata) return void t.skip('the test file gives no readMetadata hook');
      const seen = await opts.readMetadata(ra.hwaddr, metadata);
      assert.deepEqual(metadataProblems(metadata, seen), [], 'the metadata the resource got');
    });

    it('listResources (if present) includes the allocated resources', { timeout }, async (t) => {
      const d = need();
      const [ra, rb] = needAllocated();
      if (!d.listResources) return void t.skip('listResources is not implemented (optional)');
      const list = await d.listResources();
      assert.ok(Array.isArray(list), 'listResources must resolve to an array');
      assert.ok(list.includes(ra.hwaddr) && list.includes(rb.hwaddr), `listResources ${JSON.stringify(list)} misses an allocated resource`);
    });

    it('capacity (if present) reports positive cpu and ram', { timeout }, async (t) => {
      const d = need();
      if (!d.capacity) return void t.skip('capacity is not implemented (optional)');
      const c = await d.capacity();
      assert.ok(Number.isFinite(c.cpu) && c.cpu > 0, `capacity cpu ${c.cpu}`);
      assert.ok(Number.isFinite(c.ram) && c.ram > 0, `capacity ram ${c.ram}`);
    });

    it('fingerprint (if present) is a well-formed health report', { timeout }, async (t) => {
      const d = need();
      if (!d.fingerprint) return void t.skip('fingerprint is not implemented (optional)');
      const f = await d.fingerprint();
      assert.ok(['healthy', 'unhealthy', 'undetected'].includes(f.health), `fingerprint health ${f.health}`);
      assert.equal(typeof f.description, 'string');
      for (const [k, v] of Object.entries(f.attributes)) assert.equal(typeof v, 'string', `fingerprint attribute ${k}`);
    });

    describeAccess({
      driver: () => need(),
      allocated: () => needAllocated()[0].hwaddr,
      unknownHwaddr,
      ...(opts.echoServer ? { echoServer: opts.echoServer } : {}),
      refused: opts.accessRefused === true,
      timeout,
    });

    for (const kind of ['Images', 'Disks'] as const) {
      it(`list${kind}/remove${kind.slice(0, -1)} (if present): well-formed items; an unknown id is NOT_FOUND`, { timeout }, async (t) => {
        const d = need();
        const list = kind === 'Images' ? d.listImages?.bind(d) : d.listDisks?.bind(d);
        const remove = kind === 'Images' ? d.removeImage?.bind(d) : d.removeDisk?.bind(d);
        if (!list || !remove) return void t.skip(`list${kind}/remove${kind.slice(0, -1)} is not implemented (optional)`);
        const items = await list();
        assert.ok(Array.isArray(items), `list${kind} must resolve to an array`);
        for (const i of items) {
          assert.ok(typeof i.id === 'string' && i.id !== '', `an item without an id: ${JSON.stringify(i)}`);
          assert.ok(typeof i.kind === 'string' && typeof i.name === 'string', JSON.stringify(i));
          assert.ok(Number.isInteger(i.bytes) && i.bytes >= 0, `bytes of ${i.id}: ${i.bytes}`);
          assert.ok(i.lastUsed === '' || !Number.isNaN(Date.parse(i.lastUsed)), `lastUsed of ${i.id}: ${i.lastUsed}`);
          assert.equal(typeof i.inUse, 'boolean');
        }
        await expectDriverError(
          () => remove(`no-such-${kind.toLowerCase()}-id`),
          ['NOT_FOUND'],
          `remove${kind.slice(0, -1)} of an unknown id`,
        );
      });
    }

    for (const full of [false, true]) {
      it(`snapshot${full ? '(full)' : ''} of an allocated resource returns non-empty info (or UNSUPPORTED)`, { timeout }, async (t) => {
        const d = need();
        const [ra] = needAllocated();
        let info: unknown;
        try {
          info = await d.snapshot(ra.hwaddr, full);
        } catch (err) {
          const e = asDriverError(err, `snapshot(allocated, ${full})`);
          assert.equal(e.code, 'UNSUPPORTED', `snapshot failed: ${e.code} ${e.message}`);
          return void t.skip(`the driver answers UNSUPPORTED: ${e.message}`);
        }
        assert.equal(typeof info, 'string', 'snapshot info must be a string');
        snapshots.push(info as string);
        assert.ok((info as string).length > 0, 'snapshot info is empty');
        assert.equal(await d.status(ra.hwaddr), StatusAllocated, 'the resource must stay ALLOCATED after a snapshot');
      });
    }

    it('deallocate makes status NONE and the resource gone from outside', { timeout }, async () => {
      const d = need();
      const [ra, rb] = needAllocated();
      await d.deallocate(rb.hwaddr);
      live.delete(rb.hwaddr);
      bDeallocated = true;
      assert.equal(await d.status(rb.hwaddr), StatusNone, 'status after deallocate');
      assert.equal(await opts.existsOutside(rb.hwaddr), false, `${rb.hwaddr} still exists outside the driver after deallocate`);
      assert.equal(await d.status(ra.hwaddr), StatusAllocated, 'deallocating one resource touched the other');
      assert.equal(await opts.existsOutside(ra.hwaddr), true, 'deallocating one resource removed the other');
    });

    it('deallocate twice succeeds (idempotent)', { timeout }, async () => {
      const d = need();
      const [, rb] = needAllocated();
      assert.ok(bDeallocated, 'the deallocate test failed earlier');
      await d.deallocate(rb.hwaddr);
      assert.equal(await d.status(rb.hwaddr), StatusNone, 'status after the second deallocate');
    });

    it('listResources (if present) excludes deallocated resources', { timeout }, async (t) => {
      const d = need();
      const [ra, rb] = needAllocated();
      assert.ok(bDeallocated, 'the deallocate test failed earlier');
      if (!d.listResources) return void t.skip('listResources is not implemented (optional)');
      const list = await d.listResources();
      assert.ok(!list.includes(rb.hwaddr), `listResources still has deallocated ${rb.hwaddr}`);
      assert.ok(list.includes(ra.hwaddr), `listResources lost the live ${ra.hwaddr}`);
    });

    it('a second instance on the same data dir sees the live resource ALLOCATED (re-attach)', { timeout }, async (t) => {
      const [ra, rb] = needAllocated();
      if (!opts.reopen) return void t.skip('the test file gives no reopen hook');
      // as in a node restart: the first instance releases its backend connections, resources stay
      const first = need();
      if (first.close) await first.close();
      firstClosed = true;
      reopened = await opts.reopen();
      assert.equal(await reopened.status(ra.hwaddr), StatusAllocated, `status(${ra.hwaddr}) from the second instance`);
      assert.equal(await reopened.status(rb.hwaddr), StatusNone, `status of the deallocated ${rb.hwaddr} from the second instance`);
      if (reopened.listResources) {
        const list = await reopened.listResources();
        assert.ok(list.includes(ra.hwaddr), `the second instance's listResources ${JSON.stringify(list)} misses ${ra.hwaddr}`);
      }
    });

    it(
      'two concurrent deallocations of the last resource (by the second instance when there is one) both succeed and leave nothing behind',
      { timeout },
      async () => {
        const d = reopened ?? need();
        const [ra] = needAllocated();
        const results = await Promise.allSettled([d.deallocate(ra.hwaddr), d.deallocate(ra.hwaddr)]);
        for (const r of results) if (r.status === 'rejected') throw r.reason;
        live.delete(ra.hwaddr);
        assert.equal(await d.status(ra.hwaddr), StatusNone, 'status after deallocate');
        assert.equal(await opts.existsOutside(ra.hwaddr), false, `${ra.hwaddr} still exists outside the driver`);
        if (d.listResources) assert.ok(!(await d.listResources()).includes(ra.hwaddr), `listResources still has deallocated ${ra.hwaddr}`);
      },
    );
  });
}
