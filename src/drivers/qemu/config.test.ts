import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DriverError } from '../../contract/index.js';
import { kvmUsable, probeRom } from './accel.js';
import { parseConfig } from './config.js';
import { QemuDriver } from './driver.js';
import { FakeMeta, removeDir, silentLog, tempDataDir, testContext } from './test-support.js';

function rejects(json: string, field: string): void {
  assert.throws(
    () => parseConfig(json, '/var/lib/shoal/qemu'),
    (err: unknown) => {
      assert.ok(err instanceof DriverError);
      assert.equal(err.code, 'INVALID_CONFIG');
      assert.equal(err.field, field, err.message);
      assert.ok(err.message.includes(field));
      return true;
    },
  );
}

describe('qemu config', { timeout: 120_000 }, () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await removeDir(d);
  });

  it('has defaults for an empty config', () => {
    for (const json of ['', '{}', 'null']) {
      const c = parseConfig(json, '/var/lib/shoal/qemu');
      assert.equal(c.dataDir, '/var/lib/shoal/qemu');
      assert.equal(c.imageDir, '/var/lib/shoal/qemu/images');
      assert.equal(c.accel, 'auto');
      assert.equal(c.network, 'user');
      assert.equal(c.metaAddress, '169.254.169.254');
      assert.equal(c.vmNetworkCidr, '10.127.0.0/16');
      assert.ok(c.capacity.cpu >= 1 && c.capacity.ram >= 1);
      assert.ok(c.maxConcurrentBoots >= 1);
      assert.equal(c.firmware.qboot, '/usr/share/qemu/qboot.rom');
    }
  });

  it('takes every key', () => {
    const c = parseConfig(
      JSON.stringify({
        qemu_system: '/opt/qemu/bin/qemu-system-x86_64',
        qemu_img: '/opt/qemu/bin/qemu-img',
        data_dir: '/srv/vms',
        image_dir: '/srv/images',
        socket_dir: '/run/shoal-qemu',
        accel: 'tcg',
        network: 'user',
        meta_address: '169.254.1.1',
        vm_network: '10.200.0.0/20',
        max_concurrent_boots: 3,
        boot_hold_seconds: 5,
        shutdown_timeout_seconds: 7,
        capacity: { cpu: 16, ram: 64 },
        firmware: { 'ovmf-custom': '/srv/fw/OVMF.fd' },
        machine: 'pc',
      }),
      '/ignored',
    );
    assert.equal(c.dataDir, '/srv/vms');
    assert.equal(c.imageDir, '/srv/images');
    assert.equal(c.socketDir, '/run/shoal-qemu');
    assert.equal(c.accel, 'tcg');
    assert.equal(c.metaAddress, '169.254.1.1');
    assert.equal(c.vmNetworkCidr, '10.200.0.0/20');
    assert.deepEqual(c.capacity, { cpu: 16, ram: 64 });
    assert.equal(c.firmware['ovmf-custom'], '/srv/fw/OVMF.fd');
    assert.equal(c.maxConcurrentBoots, 3);
    assert.equal(c.shutdownTimeoutSeconds, 7);
    assert.equal(c.machine, 'pc');
  });

  it('names the bad key', () => {
    rejects('{"qemu":"x"}', 'qemu');
    rejects('[1]', 'config');
    rejects('{', 'config');
    rejects('{"accel":"hvf"}', 'accel');
    rejects('{"network":"bridge"}', 'network');
    rejects('{"data_dir":"relative/dir"}', 'data_dir');
    rejects('{"meta_address":"10.0.2.100"}', 'meta_address');
    rejects('{"meta_address":"127.0.0.1"}', 'meta_address');
    rejects('{"meta_address":"10.127.0.9"}', 'meta_address');
    rejects('{"vm_network":"10.127.0.1/16"}', 'vm_network');
    rejects('{"vm_network":"10.0.0.0/28"}', 'vm_network');
    rejects('{"socat":"/usr/bin/socat"}', 'socat');
    rejects('{"capacity":{"cpu":0}}', 'capacity.cpu');
    rejects('{"capacity":{"gpu":1}}', 'capacity.gpu');
    rejects('{"max_concurrent_boots":0}', 'max_concurrent_boots');
    rejects('{"firmware":{"qboot":"/x"}}', 'firmware.qboot');
    rejects('{"firmware":{"mine":"relative.rom"}}', 'firmware.mine');
    rejects('{"machine":"q35 -snapshot"}', 'machine');
  });

  it('reports qemu as not installed (BACKEND, fingerprint undetected) when the binary is missing', async () => {
    const dir = await tempDataDir('cfg');
    dirs.push(dir);
    const d = new QemuDriver(testContext(dir, new FakeMeta(), silentLog));
    await assert.rejects(
      d.prepare(JSON.stringify({ qemu_system: '/nonexistent/qemu-system-x86_64' })),
      (err: unknown) => err instanceof DriverError && err.code === 'BACKEND' && /qemu is not installed/.test(err.message),
    );
    const f = await d.fingerprint();
    assert.equal(f.health, 'undetected');
    assert.match(f.description, /not installed/);
    await assert.rejects(d.allocate('{}', {}), (err: unknown) => err instanceof DriverError);
  });

  it('the KVM probe firmware really runs and exits through isa-debug-exit (checked under TCG)', () => {
    const dir = join(process.env.TMPDIR ?? '/tmp', `shoal-probe-${process.pid}.rom`);
    writeFileSync(dir, probeRom(50));
    try {
      const r = spawnSync(
        'qemu-system-x86_64',
        [
          '-accel',
          'tcg',
          '-machine',
          'pc',
          '-m',
          '16',
          '-nodefaults',
          '-display',
          'none',
          '-bios',
          dir,
          '-device',
          'isa-debug-exit,iobase=0xf4,iosize=0x04',
        ],
        {
          timeout: 30_000,
        },
      );
      assert.equal(r.status, (0x2a << 1) | 1, `probe exit status ${r.status} ${r.stderr?.toString()}`);
    } finally {
      spawnSync('rm', ['-f', dir]);
    }
  });

  it('chooses the accelerator by the probe, and honours accel "tcg"', async () => {
    const dir = await tempDataDir('accel');
    dirs.push(dir);
    const auto = new QemuDriver(testContext(join(dir, 'a'), new FakeMeta(), silentLog));
    await auto.prepare('{}');
    const probe = await kvmUsable('/usr/bin/qemu-system-x86_64', join(dir, 'probe'));
    const f = await auto.fingerprint();
    assert.equal(f.health, 'healthy');
    assert.equal(f.attributes['qemu.accel'], probe.ok ? 'kvm' : 'tcg');
    assert.match(f.attributes['qemu.version'] ?? '', /^\d+\.\d+/);
    assert.equal(f.attributes['qemu.meta_url'], 'http://169.254.169.254/meta/v1/data');
    const tcg = new QemuDriver(testContext(join(dir, 't'), new FakeMeta(), silentLog));
    await tcg.prepare('{"accel":"tcg"}');
    assert.equal((await tcg.fingerprint()).attributes['qemu.accel'], 'tcg');
    assert.deepEqual(await tcg.listResources(), []);
    await auto.close();
    await tcg.close();
  });
});
