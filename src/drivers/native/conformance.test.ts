/** The driver contract's conformance suite against real sandboxes (bubblewrap, cgroups, a network namespace each). */
import { after } from 'node:test';
import { rm } from 'node:fs/promises';
import { describeConformance } from '../../contract/conformance/index.js';
import { NativeDriver } from './driver.js';
import { FakeMeta, nativeDefinition, tempDataDir, testContext, waitForText } from './test-support.js';

const meta = new FakeMeta();
const dirs: string[] = [];
let first: NativeDriver | undefined;
let dataDir = '';
// the sandbox prints what it reads from its Meta API (asking until the test served it: bounded)
const PRINT_META =
  'for i in $(seq 1 100); do m=$(curl -s -f -m 2 "$SHOAL_META_URL") && break; sleep 0.2; done; echo "META-BEGIN${m}META-END"; exec sleep 3600';
const valid = nativeDefinition(
  { command: ['/bin/sh', '-c', PRINT_META], env: { CI: 'yes' } },
  { disks: { ws: { type: 'ext4', size: 1 } } },
);

after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describeConformance('native', {
  async create() {
    dataDir = await tempDataDir('conf');
    dirs.push(dataDir);
    first = new NativeDriver(testContext(dataDir, meta));
    await first.prepare('{}');
    return first;
  },
  async unprepared() {
    const dir = await tempDataDir('conf-bad');
    dirs.push(dir);
    return new NativeDriver(testContext(dir, new FakeMeta()));
  },
  invalidConfigs: [
    { config: JSON.stringify({ uid_range: '5-1' }), field: 'uid_range' },
    { config: JSON.stringify({ pids_limit: 2 }), field: 'pids_limit' },
    { config: JSON.stringify({ allow_mounts: ['relative/dir'] }), field: 'allow_mounts[0]' },
    { config: JSON.stringify({ sandbox_network: '10.1.2.3/33' }), field: 'sandbox_network' },
  ],
  async reopen() {
    const driver = new NativeDriver(testContext(dataDir, meta));
    await driver.prepare('{}');
    return driver;
  },
  async readMetadata(hwaddr, metadata) {
    if (!first) throw new Error('no driver');
    const driver = first;
    meta.data.set(hwaddr, metadata);
    const m = await waitForText(() => driver.console(hwaddr), /META-BEGIN(.*)META-END/, 60_000, `sandbox ${hwaddr} printed its metadata`);
    return JSON.parse(m[1]!) as Record<string, unknown>;
  },
  definition: valid,
  invalid: [
    { definition: nativeDefinition({ comand: ['true'] }), field: 'options.comand' },
    { definition: nativeDefinition({ user: 'root' }), field: 'options.user' },
    { definition: nativeDefinition({ env: { HOME: '/root' } }), field: 'options.env.HOME' },
    { definition: nativeDefinition({ mounts: [{ source: '/srv/data', target: '/usr/local' }] }), field: 'options.mounts[0].target' },
    { definition: nativeDefinition({}, { disks: { ws: { type: 'xfs', size: 1 } } }), field: 'requirements.disks.ws.type' },
    { definition: nativeDefinition({}, { network: 'bridge' }), field: 'requirements.network' },
  ],
  async existsOutside(hwaddr) {
    // from the kernel: the sandbox's cgroup holds processes
    const cg = first?.internals().cgroups;
    return cg ? (await cg.pids(hwaddr.replaceAll(':', ''))).length > 0 : false;
  },
  timeoutMs: 60_000,
});
