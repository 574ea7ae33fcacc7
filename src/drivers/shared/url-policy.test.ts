import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { DriverError } from '../../contract/index.js';
import { embeddedV4, formatIp, nonPublicReason, parseIp, parseNetwork, inNetwork } from './ip-address.js';
import { UrlPolicy, formatSize, parseHostRule, parseSize } from './url-policy.js';

function refusedWith(field: string, pattern: RegExp, code = 'INVALID_DEFINITION') {
  return (err: unknown): boolean => {
    assert.ok(err instanceof DriverError, `a DriverError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.equal(err.field, field);
    assert.ok(err.message.startsWith(`${field}: `), err.message);
    assert.match(err.message, pattern);
    return true;
  };
}

describe('IP addresses', () => {
  it('parses IPv4, IPv6 with "::", brackets, zones and embedded IPv4', () => {
    assert.deepEqual([...parseIp('10.1.2.3')!.bytes], [10, 1, 2, 3]);
    assert.deepEqual([...parseIp('[::1]')!.bytes], [...Array<number>(15).fill(0), 1]);
    assert.deepEqual([...parseIp('::ffff:127.0.0.1')!.bytes.slice(10)], [0xff, 0xff, 127, 0, 0, 1]);
    assert.deepEqual([...parseIp('fe80::1%eth0')!.bytes.slice(0, 2)], [0xfe, 0x80]);
    assert.equal(formatIp(parseIp('2001:db8:0:0:0:0:0:1')!), '2001:db8::1');
    for (const bad of ['1.2.3', '1.2.3.256', '01.2.3.4', 'example.com', '1::2::3', '', ':::']) assert.equal(parseIp(bad), undefined, bad);
  });

  it('matches CIDR networks', () => {
    const n = parseNetwork('100.64.0.0/10')!;
    assert.ok(inNetwork(parseIp('100.127.255.255')!, n));
    assert.ok(!inNetwork(parseIp('100.128.0.0')!, n));
    assert.ok(inNetwork(parseIp('fd12::5')!, parseNetwork('fc00::/7')!));
    assert.ok(!inNetwork(parseIp('10.0.0.1')!, parseNetwork('fc00::/7')!), 'families never match');
    assert.equal(parseNetwork('10.0.0.0/33'), undefined);
  });

  const forbidden: Array<[string, RegExp]> = [
    ['127.0.0.1', /loopback/],
    ['127.255.1.2', /loopback/],
    ['0.0.0.0', /unspecified/],
    ['10.1.2.3', /private/],
    ['172.31.255.1', /private/],
    ['192.168.0.1', /private/],
    ['100.64.0.1', /CGNAT/],
    ['169.254.169.254', /link-local/],
    ['224.0.0.1', /multicast/],
    ['255.255.255.255', /broadcast/],
    ['::', /unspecified/],
    ['::1', /loopback/],
    ['fc00::1', /unique local/],
    ['fdff:ffff::1', /unique local/],
    ['fe80::1', /link-local/],
    ['febf::1', /link-local/],
    ['ff02::1', /multicast/],
    ['::ffff:127.0.0.1', /loopback.*IPv4 127\.0\.0\.1 inside IPv6/],
    ['::ffff:7f00:1', /loopback/],
    ['::ffff:a9fe:a9fe', /link-local/],
    ['::127.0.0.1', /loopback/], // IPv4-compatible
    ['::ffff:10.0.0.1', /private/],
    ['64:ff9b::a00:1', /private/], // NAT64 of 10.0.0.1
    ['2002:7f00:1::', /loopback/], // 6to4 of 127.0.0.1
  ];
  for (const [addr, why] of forbidden) {
    it(`refuses ${addr} by default`, () => {
      const reason = nonPublicReason(parseIp(addr)!);
      assert.ok(reason, `${addr} must not be public`);
      assert.match(reason, why);
    });
  }

  it('lets public addresses through', () => {
    for (const a of ['93.184.216.34', '8.8.8.8', '172.32.0.1', '100.128.0.1', '2606:4700::1111', '::ffff:8.8.8.8']) {
      assert.equal(nonPublicReason(parseIp(a)!), undefined, a);
    }
    assert.equal(formatIp(embeddedV4(parseIp('::ffff:8.8.8.8')!)!), '8.8.8.8');
  });
});

describe('parseSize', () => {
  it('reads bytes and binary units', () => {
    assert.equal(parseSize('512MB'), 512 * 2 ** 20);
    assert.equal(parseSize('16GB'), 16 * 2 ** 30);
    assert.equal(parseSize('16gb'), 16 * 2 ** 30);
    assert.equal(parseSize('1.5G'), 1.5 * 2 ** 30);
    assert.equal(parseSize('2TiB'), 2 * 2 ** 40);
    assert.equal(parseSize('64K'), 65536);
    assert.equal(parseSize('1048576'), 1048576);
    assert.equal(parseSize(4096), 4096);
    assert.equal(formatSize(16 * 2 ** 30), '16 GB');
  });
  for (const bad of ['', 'lots', '-1GB', '0', '1PB', '1.2.3GB', '10 GB extra']) {
    it(`refuses ${JSON.stringify(bad)}`, () => assert.throws(() => parseSize(bad), /size|bytes/));
  }
});

describe('allow_hosts entries', () => {
  it('are host names, addresses or networks', () => {
    assert.deepEqual(parseHostRule('Mirror.Example.org.'), { kind: 'name', name: 'mirror.example.org' });
    assert.equal(parseHostRule('10.0.0.0/8').kind, 'net');
    assert.equal(parseHostRule('::1').kind, 'net');
    for (const bad of ['http://x', 'a b', '10.0.0.0/40', '-x']) assert.throws(() => parseHostRule(bad), /host name/);
  });
});

describe('UrlPolicy at label validation', () => {
  let dir: string;
  let allowed: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'shoal-urlpolicy-'));
    allowed = join(dir, 'import');
    mkdirSync(allowed);
    mkdirSync(join(dir, 'import-other'));
    writeFileSync(join(allowed, 'good.tar'), 'x');
    writeFileSync(join(dir, 'secret'), 'top secret');
    writeFileSync(join(dir, 'import-other', 'x.tar'), 'x');
    symlinkSync(join(dir, 'secret'), join(allowed, 'link-out'));
    symlinkSync('/dev/zero', join(allowed, 'zero'));
    symlinkSync(dir, join(allowed, 'parent'));
    mkdirSync(join(allowed, 'sub'));
    execFileSync('mkfifo', [join(allowed, 'fifo')]);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const policy = (): UrlPolicy =>
    new UrlPolicy({ allowFiles: [allowed], allowHosts: [], maxImageBytes: 1024 }, () => [parseIp('192.0.2.77')!, parseIp('203.0.113.9')!]);
  const F = 'options.images[0].url';

  it('allows a file in the import dir, and one that is not there yet', async () => {
    await policy().checkForLabel(pathToFileURL(join(allowed, 'good.tar')).toString(), F);
    await policy().checkForLabel(pathToFileURL(join(allowed, 'later.tar')).toString(), F);
  });

  it('refuses every file:// when no directory is allowed (the default)', async () => {
    await assert.rejects(
      new UrlPolicy().checkForLabel(pathToFileURL(join(allowed, 'good.tar')).toString(), F),
      refusedWith(F, /file:\/\/ URLs are not allowed on this node \(config fetch\.allow_files\)/),
    );
  });

  const outside: Array<[string, string]> = [
    ['/etc/shadow', 'an absolute path elsewhere'],
    ['/dev/zero', 'a device'],
  ];
  for (const [path, what] of outside) {
    it(`refuses ${what} (${path})`, async () => {
      await assert.rejects(
        policy().checkForLabel(`file://${path}`, F),
        refusedWith(F, /is outside the allowed import directories \(config fetch\.allow_files\)/),
      );
    });
  }

  it('refuses "..", encoded "..", a sibling dir sharing the prefix', async () => {
    for (const url of [
      `file://${allowed}/../secret`,
      `file://${allowed}/%2e%2e/secret`,
      `file://${allowed}/sub/..%2f..%2fsecret`,
      pathToFileURL(join(dir, 'import-other', 'x.tar')).toString(),
      `file://${allowed}`,
    ]) {
      await assert.rejects(
        policy().checkForLabel(url, F),
        (err: unknown) => err instanceof DriverError && err.code === 'INVALID_DEFINITION' && err.field === F,
        url,
      );
    }
  });

  it('refuses symlinks out of the dir, directories and FIFOs', async () => {
    const u = (n: string): string => pathToFileURL(join(allowed, n)).toString();
    await assert.rejects(policy().checkForLabel(u('link-out'), F), refusedWith(F, /resolves \(through a symbolic link\) outside/));
    await assert.rejects(policy().checkForLabel(u('zero'), F), refusedWith(F, /resolves \(through a symbolic link\) outside/));
    await assert.rejects(policy().checkForLabel(`${u('parent')}/secret`, F), refusedWith(F, /outside/));
    await assert.rejects(policy().checkForLabel(u('sub'), F), refusedWith(F, /not a regular file/));
    await assert.rejects(policy().checkForLabel(u('fifo'), F), refusedWith(F, /not a regular file/));
  });

  it('opens only regular files inside, within the size limit (fetch time)', async () => {
    const ok = await policy().openFile(pathToFileURL(join(allowed, 'good.tar')).toString(), F);
    assert.equal(ok.size, 1);
    await ok.handle.close();
    const u = (n: string): string => pathToFileURL(join(allowed, n)).toString();
    await assert.rejects(policy().openFile(u('link-out'), F), refusedWith(F, /outside/, 'IMAGE'));
    await assert.rejects(policy().openFile(u('fifo'), F), refusedWith(F, /not a regular file/, 'IMAGE'));
    await assert.rejects(policy().openFile(u('missing'), F), refusedWith(F, /does not exist/, 'IMAGE'));
    writeFileSync(join(allowed, 'big.bin'), Buffer.alloc(2048));
    await assert.rejects(
      policy().openFile(u('big.bin'), F),
      refusedWith(F, /more than the limit of 1 KB \(config fetch\.max_image_size\)/, 'IMAGE'),
    );
  });

  const literal: Array<[string, RegExp]> = [
    ['http://127.0.0.1:8001/x', /127\.0\.0\.1 is a loopback address/],
    ['http://[::1]/', /::1 is a loopback address/],
    ['http://169.254.169.254/latest/meta-data', /link-local/],
    ['http://10.1.2.3/', /private/],
    ['http://[::ffff:127.0.0.1]/', /loopback/],
    ['http://2130706433/', /loopback/], // 127.0.0.1 as one number
    ['http://0x7f.1/', /loopback/],
    ['http://0/', /unspecified/],
    ['https://[fd00::1]/', /unique local/],
    ['http://localhost:2375/', /loopback name/],
    ['http://api.LOCALHOST./', /loopback name/],
    ['http://203.0.113.9/', /address of this node|documentation/],
    ['ftp://example.org/x', /scheme/],
  ];
  for (const [url, why] of literal) {
    it(`refuses ${url} without connecting`, async () => {
      await assert.rejects(policy().checkForLabel(url, F), refusedWith(F, why));
    });
  }

  it("refuses the node's own public address and allows other public hosts and names", async () => {
    const own = new UrlPolicy({ allowFiles: [], allowHosts: [], maxImageBytes: 1 }, () => [parseIp('93.184.216.34')!]);
    await assert.rejects(own.checkForLabel('http://93.184.216.34/', F), refusedWith(F, /address of this node/));
    await assert.rejects(own.checkForLabel('http://[::ffff:93.184.216.34]/', F), refusedWith(F, /address of this node/));
    await own.checkForLabel('https://8.8.8.8/x', F);
    await own.checkForLabel('https://images.example.org/x', F);
  });

  it('opens what fetch.allow_hosts allows: a name, an address, a network', async () => {
    const p = new UrlPolicy({ allowFiles: [], allowHosts: ['localhost', '127.0.0.1', '10.0.0.0/8'], maxImageBytes: 1 }, () => []);
    await p.checkForLabel('http://localhost:1/', F);
    await p.checkForLabel('http://127.0.0.1:1/', F);
    await p.checkForLabel('http://[::ffff:127.0.0.1]:1/', F);
    await p.checkForLabel('http://10.9.8.7/', F);
    await assert.rejects(p.checkForLabel('http://127.0.0.2/', F), refusedWith(F, /loopback/));
    await assert.rejects(p.checkForLabel('http://192.168.1.1/', F), refusedWith(F, /private/));
    assert.equal(p.addressRefusal('localhost', '::1'), undefined, 'an allowed name may resolve anywhere');
    assert.match(p.addressRefusal('evil.example', '::1') ?? '', /evil\.example resolves to ::1, which is a loopback address/);
  });
});
