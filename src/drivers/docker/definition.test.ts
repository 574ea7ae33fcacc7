import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DriverError } from '../../contract/index.js';
import { parseDockerConfig } from './config.js';
import { containerEnv } from './container-spec.js';
import { parseDockerDefinition } from './definition.js';
import { isMac, randomMac } from '../shared/mac.js';
import { envKey } from './names.js';

const SUM = `sha256:${'ab'.repeat(32)}`;
const good = { image: 'busybox:1.36', images: [{ url: 'file:///srv/busybox.tar', sum: SUM }], command: ['sleep', '1'] };
const def = (options: Record<string, unknown>, requirements: Record<string, unknown> = {}): string =>
  JSON.stringify({ options, requirements: { cpu: 1, ram: 1, ...requirements } });

function rejects(fn: () => unknown, code: string, field: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof DriverError, `not a DriverError: ${String(err)}`);
    assert.equal(err.code, code);
    assert.equal(err.field, field);
    assert.ok(err.message.includes(field), `message "${err.message}" does not name ${field}`);
    return true;
  });
}

describe('docker definitions', () => {
  it('accepts every documented option and disk type', () => {
    const d = parseDockerDefinition(
      def(
        { ...good, entrypoint: ['/bin/sh', '-c'], env: { A: 'b' }, user: '1000:1000' },
        {
          network: 'nat',
          disks: {
            ws: { type: 'ext4', size: 2 },
            x: { type: 'xfs', size: 1, label: 'scratch', reuse: true },
            d: { type: 'dir', size: 1, clone: 's-abc123-00ff/d' },
          },
        },
      ),
    );
    assert.equal(d.network, 'nat');
    assert.deepEqual(
      d.disks.map((x) => [x.name, x.type, x.label, x.reuse, x.clone]),
      [
        ['ws', 'ext4', 'ws', false, ''],
        ['x', 'xfs', 'scratch', true, ''],
        ['d', 'dir', 'd', false, 's-abc123-00ff/d'],
      ],
    );
    assert.equal(parseDockerDefinition(def({ image: `sha256:${'c'.repeat(64)}` })).options.image, `sha256:${'c'.repeat(64)}`);
    assert.equal(parseDockerDefinition(def({ image: 'registry.local:5000/team/app:v1.2' })).network, 'hostonly');
  });

  const bad: Array<[string, string, string]> = [
    ['unknown option', def({ ...good, privileged: true }), 'options.privileged'],
    ['no image', def({ images: good.images }), 'options.image'],
    ['upper-case image', def({ image: 'BusyBox' }), 'options.image'],
    ['images not a list', def({ ...good, images: {} }), 'options.images'],
    ['bad checksum', def({ ...good, images: [{ url: 'file:///x.tar', sum: 'sha256:12' }] }), 'options.images[0].sum'],
    ['ftp url', def({ ...good, images: [good.images[0], { url: 'ftp://h/x.tar', sum: SUM }] }), 'options.images[1].url'],
    ['command a string', def({ ...good, command: 'sleep 1' }), 'options.command'],
    ['command with a number', def({ ...good, command: ['sleep', 1] }), 'options.command[1]'],
    ['env value a number', def({ ...good, env: { N: 1 } }), 'options.env.N'],
    ['env bad name', def({ ...good, env: { 'A-B': 'x' } }), 'options.env.A-B'],
    ['bad user', def({ ...good, user: 'a b' }), 'options.user'],
    ['unknown network', def(good, { network: 'bridge' }), 'requirements.network'],
    ['unsupported disk', def(good, { disks: { ws: { type: 'qcow2', size: 1 } } }), 'requirements.disks.ws.type'],
    [
      'two disks one mount',
      def(good, { disks: { a: { type: 'dir', size: 1, label: 'm' }, b: { type: 'dir', size: 1, label: 'm' } } }),
      'requirements.disks.b.label',
    ],
    ['bad clone', def(good, { disks: { ws: { type: 'ext4', size: 1, clone: '/etc/shadow' } } }), 'requirements.disks.ws.clone'],
    ['cpu 0 (contract)', def(good, { cpu: 0 }), 'requirements.cpu'],
  ];
  for (const [what, d, field] of bad) {
    it(`rejects ${what} naming ${field}`, () => rejects(() => parseDockerDefinition(d), 'INVALID_DEFINITION', field));
  }

  it('turns metadata into env vars: keys sanitised, values strings, SHOAL_META_URL last and fixed', () => {
    const d = parseDockerDefinition(def({ ...good, env: { A: 'from-label', SHOAL_META_URL: 'spoof' } }));
    const env = containerEnv(
      d,
      { A: 'from-app', 'job.id': 42, '9lives': true, obj: { k: [1] }, SHOAL_META_URL: 'x' },
      'http://10.0.0.1:80',
    );
    assert.deepEqual(env, ['A=from-app', 'SHOAL_META_URL=http://10.0.0.1:80', 'job_id=42', '_9lives=true', 'obj={"k":[1]}']);
    assert.equal(envKey('a-b.c'), 'a_b_c');
  });

  it('generates random locally administered unicast MACs', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const m = randomMac();
      assert.ok(isMac(m), m);
      const first = parseInt(m.slice(0, 2), 16);
      assert.equal(first & 0x01, 0, `${m} is multicast`);
      assert.equal(first & 0x02, 2, `${m} is not locally administered`);
      seen.add(m);
    }
    assert.equal(seen.size, 200);
  });
});

describe('docker config', () => {
  it('has defaults under the data dir and per-instance network names', () => {
    const c = parseDockerConfig('', '/var/lib/shoal/docker', 'docker/ssd');
    assert.equal(c.socket, '/var/run/docker.sock');
    assert.equal(c.imagesDir, '/var/lib/shoal/docker/images');
    assert.equal(c.workspaceDir, '/var/lib/shoal/docker/workspaces');
    assert.deepEqual(c.networks, { hostonly: 'shoal-docker-ssd-hostonly', nat: 'shoal-docker-ssd-nat' });
    assert.equal(c.metaPort, 80);
    assert.equal(c.cpu, undefined);
    const d = parseDockerConfig('{"cpu":4,"ram":8,"meta_port":8080,"networks":{"nat":"mynat"},"max_parallel_starts":2}', '/d', 'docker');
    assert.deepEqual(
      [d.cpu, d.ram, d.metaPort, d.networks.nat, d.networks.hostonly, d.maxParallelStarts],
      [4, 8, 8080, 'mynat', 'shoal-docker-hostonly', 2],
    );
  });

  const bad: Array<[string, string]> = [
    ['{', 'config'],
    ['[]', 'config'],
    ['{"sockett":"/x"}', 'sockett'],
    ['{"socket":"relative.sock"}', 'socket'],
    ['{"meta_port":0}', 'meta_port'],
    ['{"cpu":1.5}', 'cpu'],
    ['{"networks":{"hostonly":"bad name"}}', 'networks.hostonly'],
    ['{"networks":{"nat":"same","hostonly":"same"}}', 'networks.nat'],
    ['{"networks":{"other":"x"}}', 'networks.other'],
    ['{"images_dir":""}', 'images_dir'],
  ];
  for (const [json, field] of bad) {
    it(`rejects ${json} naming ${field}`, () => rejects(() => parseDockerConfig(json, '/d', 'docker'), 'INVALID_CONFIG', field));
  }
});
