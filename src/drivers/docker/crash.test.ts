import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { bridgeName } from './firewall.js';
import { listMounts } from '../shared/mounts.js';
import { runCommand } from '../shared/run-command.js';
import { LABELS } from './names.js';
import { resourceTraces, traces } from './test-helpers/harness.js';
import { createSuite, type Suite } from './test-helpers/suite.js';

const T = { timeout: 240_000 };
const child = fileURLToPath(new URL('./test-helpers/crash-child.js', import.meta.url));

/** Start an allocation in a child process and SIGKILL it as soon as `ready()` says so (polled, bounded). */
async function killMidAllocation(s: Suite, definition: string, ready: () => Promise<boolean>): Promise<{ out: string }> {
  const { NODE_TEST_CONTEXT: _ignored, ...env } = process.env;
  const proc = spawn(process.execPath, [child], {
    env: {
      ...env,
      SHOAL_CRASH_CHILD: JSON.stringify({
        dataDir: s.h.dataDir,
        instance: s.h.instance,
        nodeName: s.h.nodeName,
        configJson: s.h.configJson,
        definition,
      }),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<void>((r) => proc.on('close', () => r()));
  try {
    const deadline = Date.now() + 90_000;
    let hit = false;
    while (Date.now() < deadline && proc.exitCode === null) {
      if (await ready()) {
        hit = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(hit, `the child never reached the kill point:\n${out}`);
  } finally {
    proc.kill('SIGKILL');
    await exited;
  }
  return { out };
}

describe('docker driver: crash mid-allocation', { timeout: 900_000 }, () => {
  let s: Suite;

  before(async () => {
    s = await createSuite('crs');
  }, T);

  after(async () => {
    await s?.destroy();
  }, T);

  const def = (): string => s.basic({ disks: { ws: { type: 'ext4', size: 1 } } });

  it('killed after its disk was mounted (no container yet): a fresh driver lists it and deallocate removes every trace', T, async () => {
    const { out } = await killMidAllocation(s, def(), async () => (await listMounts()).some((m) => m.mountPoint.startsWith(s.h.dataDir)));
    assert.ok(!out.includes('allocated '), 'the allocation finished before the kill');
    const left = await traces(s.h);
    assert.ok(
      left.some((t) => t.startsWith('mount ')),
      `expected a leftover mount, got ${JSON.stringify(left)}`,
    );
    const fresh = await s.h.newDriver();
    try {
      const list = await fresh.listResources();
      assert.equal(list.length, 1, `listResources: ${JSON.stringify(list)}`);
      await fresh.deallocate(list[0]!);
      assert.deepEqual(await resourceTraces(s.h), []);
      assert.deepEqual(await fresh.listResources(), []);
    } finally {
      await fresh.close();
    }
    assert.deepEqual(await traces(s.h), [], 'a clean shutdown removes the unused networks');
  });

  it('rules and a bridge that an interrupted network create left behind are removed when the next run prepares', T, async () => {
    const bridge = bridgeName(s.h.networks.hostonly);
    // what Docker leaves when a network create is cut off: its isolation rules and maybe the bridge
    await runCommand('iptables', ['-w', '30', '-A', 'DOCKER-ISOLATION-STAGE-1', '!', '-s', '10.255.255.0/24', '-o', bridge, '-j', 'DROP']);
    await runCommand('ip', ['link', 'add', bridge, 'type', 'bridge']);
    const left = await traces(s.h);
    assert.ok(left.some((t) => t.startsWith('rule ')) && left.includes(`bridge ${bridge}`), JSON.stringify(left));
    const fresh = await s.h.newDriver();
    try {
      assert.deepEqual(await traces(s.h), []);
    } finally {
      await fresh.close();
    }
  });

  it(
    'killed once its container existed: a fresh driver lists it and deallocate removes container, network, rules, mount, loop, files',
    T,
    async () => {
      const filters = JSON.stringify({ label: [`${LABELS.instance}=${s.h.instance}`] });
      const { out } = await killMidAllocation(s, def(), async () => (await s.h.docker.listContainers({ all: true, filters })).length > 0);
      const left = await traces(s.h);
      for (const kind of ['container ', 'network ', 'rule ', 'mount ', 'loop ', 'file ']) {
        assert.ok(
          left.some((t) => t.startsWith(kind)),
          `expected a leftover ${kind.trim()}, got ${JSON.stringify(left)} (child: ${out})`,
        );
      }
      const fresh = await s.h.newDriver();
      try {
        const list = await fresh.listResources();
        assert.equal(list.length, 1, `listResources: ${JSON.stringify(list)}`);
        const c = (await s.h.docker.listContainers({ all: true, filters }))[0];
        assert.equal(c?.Labels[LABELS.resource], list[0]);
        await fresh.deallocate(list[0]!);
        assert.deepEqual(await resourceTraces(s.h), []);
      } finally {
        await fresh.close();
      }
      assert.deepEqual(await traces(s.h), [], 'a clean shutdown removes the network and its rules');
    },
  );
});
