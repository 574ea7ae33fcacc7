import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const fixture = fileURLToPath(new URL('./fixtures/memory-driver-suite.js', import.meta.url));

/** Runs the conformance suite over the in-memory fixture driver with one defect; returns the failed test names. */
async function run(defect: string): Promise<{ code: number | null; failed: string[]; passed: number; skipped: string[]; out: string }> {
  // a child of a test file inherits NODE_TEST_CONTEXT, which makes its own --test run skip the files
  const { NODE_TEST_CONTEXT: _ignored, ...env } = process.env;
  const child = spawn(process.execPath, ['--test', '--test-reporter=tap', fixture], {
    env: { ...env, SHOAL_CONFORMANCE_DEFECT: defect },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  const failed = [...out.matchAll(/^\s*not ok \d+ - (.*)$/gm)].map((m) => m[1]!.trim());
  const passed = [...out.matchAll(/^\s{4}ok \d+ - (.*)$/gm)].filter((m) => !/ # SKIP\b/.test(m[1]!)).length;
  const skipped = [...out.matchAll(/^\s{4}ok \d+ - (.*) # SKIP\b(.*)$/gm)].map((m) => `${m[1]!.trim()} #${m[2]!}`);
  return { code, failed, passed, skipped, out };
}

describe('the conformance suite itself', () => {
  it('passes a correct driver', { timeout: 90_000 }, async () => {
    const r = await run('none');
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(r.failed, []);
    assert.ok(r.passed >= 28, `only ${r.passed} tests passed:\n${r.out}`);
    // the in-memory fixture has no environment to enter: its access checks are named skips (the docker
    // driver's conformance test runs them against real containers)
    const notAccess = r.skipped.filter((line) => !/^access: .* # the driver has no access part \(optional\)$/.test(line));
    assert.deepEqual(notAccess, [], 'a driver with every optional method and hook skips nothing else');
    assert.equal(r.skipped.length, 6, `the six access checks are named skips: ${JSON.stringify(r.skipped)}`);
  });

  it('reports an absent optional method as a named skip, not as a pass', { timeout: 90_000 }, async () => {
    const full = await run('none');
    const r = await run('minimal');
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(r.failed, []);
    for (const method of ['listResources', 'capacity', 'fingerprint', 'listImages/removeImage', 'listDisks/removeDisk']) {
      assert.ok(
        r.skipped.some((line) => line.includes(`${method} is not implemented (optional)`)),
        `no named skip for ${method}: ${JSON.stringify(r.skipped)}`,
      );
    }
    assert.equal(r.passed + r.skipped.length, full.passed + full.skipped.length, 'every skipped test would have run for a full driver');
  });

  const cases: Array<[string, RegExp]> = [
    ['same-hwaddr', /two distinct non-empty hwaddrs/],
    ['deallocate-keeps', /deallocate makes status NONE/],
    ['deallocate-unknown-throws', /deallocate of a never-seen hwaddr/],
    ['error-without-field', /rejects each driver-specific invalid definition naming the field/],
    ['unknown-is-allocated', /status of an unknown hwaddr is NONE/],
    ['allocate-skips-validation', /allocate with an invalid definition rejects/],
    ['list-keeps-deallocated', /listResources \(if present\) excludes deallocated/],
    ['snapshot-empty', /snapshot of an allocated resource returns non-empty info/],
    ['prepare-accepts-anything', /prepare rejects an unknown key with INVALID_CONFIG naming conformance_no_such_key/],
    ['metadata-lost', /metadata given to allocate reaches the resource/],
    ['no-reattach', /a second instance on the same data dir sees the live resource ALLOCATED/],
    ['snapshot-full-fails', /snapshot\(full\) of an allocated resource/],
    ['concurrent-deallocate-throws', /two concurrent deallocations of the last resource/],
  ];
  for (const [defect, test] of cases) {
    it(`fails a driver with the defect "${defect}"`, { timeout: 90_000 }, async () => {
      const r = await run(defect);
      assert.notEqual(r.code, 0, `the suite passed a driver with ${defect}:\n${r.out}`);
      assert.ok(
        r.failed.some((name) => test.test(name)),
        `no failed test matches ${test} (failed: ${JSON.stringify(r.failed)})`,
      );
    });
  }
});
