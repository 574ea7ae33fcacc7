/**
 * The cloud-init seed and host-key reports (no VM): what each document says, the channel handler
 * (its own seed only, phone_home recorded once, bad reports refused), the access key pair (read
 * back by OpenSSH's own ssh-keygen), and QEMU's command line carrying the seed and the ssh forward.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import type { MetaHandler } from '../../contract/index.js';
import { guestHostname, hostKeysFile, readHostKeys, renderSeed, seedArg, withCloudInit, writeSeed } from './cloud-init.js';
import { generateSshKeyPair, parseHostKey } from './ssh-key.js';
import { silentLog } from './test-support.js';
import { buildArgs, type VmSpec } from './vm-process.js';

const MAC = '52:54:00:aa:bb:0c';

function call(port: number, method: string, path: string, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method, path, headers: body ? { 'content-type': 'application/x-www-form-urlencoded' } : {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A real host key made by ssh-keygen (the format sshd writes and phone_home posts). */
function sshKeygenHostKey(dir: string, type: string): string {
  const file = join(dir, `host_${type}_${randomBytes(3).toString('hex')}`);
  const r = spawnSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', 'root@guest', '-f', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return spawnSync('cat', [`${file}.pub`], { encoding: 'utf8' }).stdout;
}

describe('qemu cloud-init seed', () => {
  let dir: string;
  let server: Server;
  let port: number;
  let metaCalls: string[];
  const userData = `#cloud-config\nruncmd:\n  - [touch, /run/x-${randomBytes(3).toString('hex')}]\n`;
  const keys = generateSshKeyPair('shoal-app-1');

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-ci-'));
    metaCalls = [];
    const meta: MetaHandler = (req, res) => {
      metaCalls.push(req.url ?? '');
      res.end('meta');
    };
    await writeSeed(dir, {
      hwaddr: MAC,
      instanceId: 'app-uid-1',
      hostname: 'web-app1',
      metaAddress: '169.254.169.254',
      userData,
      publicKey: keys.publicKey,
    });
    server = createServer(withCloudInit(dir, MAC, meta, silentLog));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  });

  it('meta-data names the application as instance-id, the host name and the access key', () => {
    const seed = renderSeed({
      hwaddr: MAC,
      instanceId: 'app-uid-1',
      hostname: 'web-app1',
      metaAddress: '10.1.2.3',
      userData: undefined,
      publicKey: keys.publicKey,
    });
    assert.deepEqual(parse(seed['meta-data']), {
      'instance-id': 'app-uid-1',
      'local-hostname': 'web-app1',
      'public-keys': [keys.publicKey],
    });
    // the default user-data: a #cloud-config with locale, hosts entry, and the key for the access user
    assert.match(seed['user-data'], /^#cloud-config\n/);
    const ud = parse(seed['user-data']) as Record<string, unknown>;
    assert.equal(ud['locale'], 'C.UTF-8');
    assert.equal(ud['manage_etc_hosts'], true);
    const users = ud['users'] as Array<string | { name: string; ssh_authorized_keys: string[] }>;
    assert.equal(users[0], 'default');
    assert.deepEqual((users[1] as { name: string; ssh_authorized_keys: string[] }).ssh_authorized_keys, [keys.publicKey]);
    assert.equal((users[1] as { name: string }).name, 'shoal');
    // vendor-data: phone_home to this VM's own seed path on the meta address given
    const vd = parse(seed['vendor-data']) as { phone_home: { url: string; post: string[] } };
    assert.equal(vd.phone_home.url, 'http://10.1.2.3/nocloud/525400aabb0c/phone-home');
    assert.ok(vd.phone_home.post.includes('pub_key_ed25519'));
    const nc = parse(seed['network-config']) as { version: number; ethernets: Record<string, { match: { macaddress: string } }> };
    assert.equal(nc.version, 2);
    assert.equal(Object.values(nc.ethernets)[0]?.match.macaddress, MAC);
  });

  it('the seed argument points cloud-init at the VM path on the meta address', () => {
    assert.equal(seedArg('169.254.169.254', MAC), 'ds=nocloud-net;s=http://169.254.169.254/nocloud/525400aabb0c/');
  });

  it('host names are RFC 1123 labels from the label and application', () => {
    assert.equal(guestHostname('Web_Server', '3f2a9c10-1111-2222', MAC), 'web-server-3f2a9c10');
    assert.equal(guestHostname('', '', MAC), 'shoal-525400aabb0c');
    const long = guestHostname('x'.repeat(100), 'abcdef0123', MAC);
    assert.ok(long.length <= 63, long);
    assert.match(long, /^[a-z0-9][a-z0-9-]*[a-z0-9]$/);
  });

  it('serves this VM its own files (the label user-data as given), 0600 on disk; other paths go to the Meta API', async () => {
    const ud = await call(port, 'GET', '/nocloud/525400aabb0c/user-data');
    assert.equal(ud.status, 200);
    assert.equal(ud.text, userData);
    const md = await call(port, 'GET', '/nocloud/525400aabb0c/meta-data');
    assert.equal((parse(md.text) as Record<string, unknown>)['instance-id'], 'app-uid-1');
    for (const f of ['vendor-data', 'network-config']) assert.equal((await call(port, 'GET', `/nocloud/525400aabb0c/${f}`)).status, 200, f);
    assert.equal((await stat(join(dir, 'cloud-init', 'user-data'))).mode & 0o777, 0o600);
    // another VM's path, unknown files and escapes answer 404
    assert.equal((await call(port, 'GET', '/nocloud/525400aabb0d/user-data')).status, 404);
    assert.equal((await call(port, 'GET', '/nocloud/525400aabb0c/../../etc/passwd')).status, 404);
    assert.equal((await call(port, 'GET', '/nocloud/525400aabb0c/ssh')).status, 404);
    assert.equal(metaCalls.length, 0);
    const m = await call(port, 'GET', '/meta/v1/data');
    assert.equal(m.text, 'meta');
    assert.deepEqual(metaCalls, ['/meta/v1/data']);
  });

  it('phone_home records the host keys once; bad or foreign reports are refused and change nothing', async () => {
    const ed = sshKeygenHostKey(dir, 'ed25519');
    const ecdsa = sshKeygenHostKey(dir, 'ecdsa');
    assert.equal(await readHostKeys(dir), undefined);
    const bad = new URLSearchParams({ pub_key_ed25519: 'ssh-ed25519 bm90IGEga2V5', instance_id: 'x' }).toString();
    assert.equal((await call(port, 'POST', '/nocloud/525400aabb0c/phone-home', bad)).status, 400);
    assert.equal((await call(port, 'POST', '/nocloud/525400aabb0c/phone-home', 'instance_id=x')).status, 400);
    assert.equal((await call(port, 'GET', '/nocloud/525400aabb0c/phone-home')).status, 405);
    const big = `pub_key_rsa=${'A'.repeat(70 * 1024)}`;
    assert.equal((await call(port, 'POST', '/nocloud/525400aabb0c/phone-home', big)).status, 413);
    const form = new URLSearchParams({
      pub_key_rsa: 'N/A',
      pub_key_ecdsa: ecdsa,
      pub_key_ed25519: ed,
      instance_id: 'app-uid-1',
      hostname: 'web-app1',
    });
    assert.equal((await call(port, 'POST', '/nocloud/525400aabb0d/phone-home', form.toString())).status, 404, "another VM's path");
    assert.equal(await readHostKeys(dir), undefined);
    const ok = await call(port, 'POST', '/nocloud/525400aabb0c/phone-home', form.toString());
    assert.equal(ok.status, 200, ok.text);
    const recorded = await readHostKeys(dir);
    assert.ok(recorded);
    assert.deepEqual(
      recorded.keys.map((k) => `${k.type} ${k.key}`).sort(),
      [ed, ecdsa].map((l) => l.trim().split(' ').slice(0, 2).join(' ')).sort(),
    );
    assert.equal((await stat(hostKeysFile(dir))).mode & 0o777, 0o600);
    // a second report (e.g. a guest trying to swap its keys) is refused; the first stays
    const other = new URLSearchParams({ pub_key_ed25519: sshKeygenHostKey(dir, 'ed25519') });
    assert.equal((await call(port, 'POST', '/nocloud/525400aabb0c/phone-home', other.toString())).status, 409);
    assert.deepEqual(await readHostKeys(dir), recorded);
  });

  it('the access key pair is OpenSSH ed25519: ssh-keygen derives the same public key from the private one', async () => {
    const file = join(dir, 'id_test');
    await writeFile(file, keys.privateKey, { mode: 0o600 });
    const r = spawnSync('ssh-keygen', ['-y', '-f', file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim().split(' ').slice(0, 2).join(' '), keys.publicKey.split(' ').slice(0, 2).join(' '));
    assert.match(keys.publicKey, /^ssh-ed25519 [A-Za-z0-9+/=]+ shoal-app-1$/);
    assert.notEqual(generateSshKeyPair('x').publicKey.split(' ')[1], keys.publicKey.split(' ')[1], 'a new key each time');
    assert.equal(await readFile(file, 'utf8'), keys.privateKey);
  });

  it('parseHostKey accepts sshd host keys and refuses a blob of another type or garbage', () => {
    const ed = sshKeygenHostKey(dir, 'ed25519');
    assert.equal(parseHostKey(ed)?.type, 'ssh-ed25519');
    const blob = ed.split(' ')[1]!;
    assert.equal(parseHostKey(`ssh-rsa ${blob}`), undefined, 'type and blob disagree');
    assert.equal(parseHostKey('ssh-dss AAAA'), undefined);
    assert.equal(parseHostKey('hello'), undefined);
  });

  it("QEMU's command line: the seed in the SMBIOS serial and (kernel boot) on the kernel line, port 22 forwarded", () => {
    const spec: VmSpec = {
      marker: 'shoal/x/y',
      accel: 'tcg',
      machine: 'q35',
      cpu: 1,
      ramGb: 1,
      mac: MAC,
      firmware: '',
      kernel: undefined,
      initrd: undefined,
      append: '',
      disks: [{ nodeName: 'disk0', serial: 'root', format: 'qcow2', path: '/x/image0.qcow2', bootIndex: 0 }],
      qmpSocket: '/x/q.sock',
      consoleLog: '/x/console.log',
      pidFile: '/x/pid',
      cloudInitSeed: seedArg('169.254.169.254', MAC),
      sshForwardAddress: '10.127.0.6',
    };
    const disk = buildArgs(spec);
    assert.equal(disk[disk.indexOf('-smbios') + 1], 'type=1,serial=ds=nocloud-net;s=http://169.254.169.254/nocloud/525400aabb0c/');
    assert.ok(!disk.includes('-append'));
    assert.ok(
      disk.some((a) => a.includes('bootindex=0')),
      'a disk boot has its boot disk first',
    );
    assert.ok(disk.includes('user,id=net0,ipv6=off,hostfwd=tcp:10.127.0.6:22-:22'));
    const kernel = buildArgs({ ...spec, kernel: '/x/vmlinuz', append: 'quiet' });
    assert.equal(
      kernel[kernel.indexOf('-append') + 1],
      'console=ttyS0 quiet ds=nocloud-net;s=http://169.254.169.254/nocloud/525400aabb0c/',
    );
    assert.ok(!kernel.some((a) => a.includes('bootindex')), 'with -kernel no disk claims bootindex 0');
    const own = buildArgs({ ...spec, kernel: '/x/vmlinuz', append: 'ds=nocloud;s=/seed/' });
    assert.equal(own[own.indexOf('-append') + 1], 'console=ttyS0 ds=nocloud;s=/seed/', 'a ds= of the label is kept');
  });
});
