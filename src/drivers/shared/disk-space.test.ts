import assert from 'node:assert/strict';
import { mkdtemp, open, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DriverError } from '../../contract/index.js';
import { DiskSpace, parseDiskLimits, parseDiskReserve, type DiskRequest, type PromisedFile } from './disk-space.js';

const GB = 1024 ** 3;
const code = (c: string) => (e: unknown) => e instanceof DriverError && e.code === c;

describe('disk space checks', () => {
  let dir: string;
  let total: number;
  let avail: number;
  const files: PromisedFile[] = [];
  let space: DiskSpace;
  const req = (name: string, sizeGb: number): DiskRequest => ({ name, type: 'ext4', sizeGb, bytes: sizeGb * GB, dir });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-space-'));
    const s = await statfs(dir);
    total = s.blocks * s.bsize;
    avail = s.bavail * s.bsize;
    space = new DiskSpace({ reserve: { percent: 5 }, maxDiskGb: undefined }, async () => files);
  });
  after(async () => {
    space.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('config: disk_reserve as a share or a size, max_disk_size in GB; bad values name the key', () => {
    assert.deepEqual(parseDiskReserve(undefined), { percent: 5 });
    assert.deepEqual(parseDiskReserve('12.5%'), { percent: 12.5 });
    assert.deepEqual(parseDiskReserve('10GB'), { bytes: 10 * GB });
    assert.deepEqual(parseDiskReserve('512 MB'), { bytes: 512 * 1024 ** 2 });
    assert.deepEqual(parseDiskReserve(2), { bytes: 2 * GB });
    for (const bad of ['100%', '-1GB', 'lots', true])
      assert.throws(
        () => parseDiskReserve(bad),
        (e: unknown) => code('INVALID_CONFIG')(e) && /disk_reserve/.test((e as Error).message),
      );
    assert.equal(parseDiskLimits({ max_disk_size: 100 }).maxDiskGb, 100);
    assert.throws(
      () => parseDiskLimits({ max_disk_size: 0.5 }),
      (e: unknown) => code('INVALID_CONFIG')(e) && /max_disk_size/.test((e as Error).message),
    );
  });

  test('a definition whose disk can never fit the file system (or max_disk_size) is refused naming the disk', async () => {
    const huge = Math.ceil(total / GB) + 1;
    await assert.rejects(
      space.checkDefinition([req('ws', huge)]),
      (e: unknown) =>
        code('INVALID_DEFINITION')(e) &&
        (e as DriverError).field === 'requirements.disks.ws.size' &&
        (e as Error).message.includes(`${huge} GB can never fit`),
    );
    // 15,000 GB as in the report
    await assert.rejects(space.checkDefinition([req('ws', 15_000)]), code('INVALID_DEFINITION'));
    await space.checkDefinition([req('ws', 1)]);
    const capped = new DiskSpace({ reserve: { percent: 5 }, maxDiskGb: 2 }, async () => []);
    try {
      await assert.rejects(
        capped.checkDefinition([req('big', 3)]),
        (e: unknown) => code('INVALID_DEFINITION')(e) && /max_disk_size 2 GB/.test((e as Error).message),
      );
    } finally {
      capped.close();
    }
  });

  test('allocation: refused beyond what is free; live sparse disks count at full size; concurrent requests never share free space', async () => {
    const reserve = Math.ceil(total * 0.05);
    const freeGb = Math.floor((avail - reserve) / GB);
    assert.ok(freeGb >= 4, `the test needs a few GB free in ${dir}`);
    // more than free: refused, the message names disk, size and what is free
    await assert.rejects(
      space.reserve([req('ws', freeGb + 2)]),
      (e: unknown) =>
        code('NO_CAPACITY')(e) &&
        (e as Error).message.includes(`disk "ws" (ext4, ${freeGb + 2} GB) does not fit`) &&
        /GB free/.test((e as Error).message),
    );
    // a sparse file promised at 60% of what is free takes that share, although it uses no blocks
    const share = Math.floor(freeGb * 0.6);
    const sparse = join(dir, 'live.img');
    const fh = await open(sparse, 'w');
    await fh.truncate(share * GB);
    await fh.close();
    files.push({ path: sparse, bytes: share * GB });
    await assert.rejects(space.reserve([req('second', share)]), code('NO_CAPACITY'));
    files.length = 0;
    // two concurrent requests of 60% each: exactly one is accepted
    const both = await Promise.allSettled([space.reserve([req('a', share)]), space.reserve([req('b', share)])]);
    const accepted = both.filter((r) => r.status === 'fulfilled');
    assert.equal(accepted.length, 1);
    assert.ok(both.some((r) => r.status === 'rejected' && code('NO_CAPACITY')(r.reason)));
    // released: the space is free again
    (accepted[0] as PromiseFulfilledResult<() => void>).value();
    const again = await space.reserve([req('c', share)]);
    again();
    // a reused disk that exists already asks only for its growth (0 bytes here)
    (await space.reserve([{ ...req('reused', freeGb * 10), bytes: 0 }]))();
  });
});
