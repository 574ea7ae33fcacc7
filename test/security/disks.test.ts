import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildTestImages, type TestImages } from '../../src/drivers/docker/test-helpers/fixtures.js';
import { connectEngine } from '../../src/drivers/docker/engine.js';
import { freePort } from '../helpers/free-port.js';
import { startNodeProcess, type NodeProcess } from '../helpers/node-process.js';

/**
 * Disk sizes (issue 7, class 7) attacked on a real node as an ordinary user. The docker workspace
 * lives on a small file system of the test's own (a loop-mounted 4 GB ext4, 3 GB of it taken).
 */

interface Reply {
  status: number;
  body: { error?: { code: string; message: string; details?: Record<string, unknown> }; [k: string]: unknown };
}

describe('disk requests are checked against the file system (real node)', { timeout: 300_000 }, () => {
  const prefix = `dsk${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), `shoal-${prefix}-`));
  const small = join(dir, 'small');
  const workspace = join(small, 'ws');
  const docker = connectEngine('/var/run/docker.sock');
  let images: TestImages;
  let node: NodeProcess;
  let userToken = '';

  async function api(token: string, method: string, path: string, body?: unknown): Promise<Reply> {
    const res = await fetch(`${node.apiUrl}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Reply['body']) };
  }
  const alive = () => node.proc.exitCode === null && node.proc.signalCode === null;

  before(async () => {
    mkdirSync(join(dir, 'fixtures'));
    mkdirSync(small);
    const img = join(dir, 'small.img');
    execFileSync('truncate', ['-s', '4G', img]);
    execFileSync('mkfs.ext4', ['-q', '-F', '-m', '0', img]);
    execFileSync('mount', ['-o', 'loop', img, small]);
    execFileSync('fallocate', ['-l', '3G', join(small, 'filler')]);
    images = await buildTestImages(docker, join(dir, 'fixtures'), prefix);
    node = await startNodeProcess({
      dataDir: join(dir, 'node'),
      config: {
        fetch: { allow_files: [join(dir, 'fixtures')] },
        drivers: {
          test: { cpu: 4, ram: 4 },
          docker: { workspace_dir: workspace, meta_port: await freePort(), stop_timeout: 1, cpu: 4, ram: 4 },
          qemu: {},
        },
      },
    });
    const u = await api(node.token, 'POST', '/users', { name: 'eve', role: 'user' });
    assert.equal(u.status, 201);
    userToken = u.body.token as string;
  });

  after(async () => {
    await node?.cleanup();
    for (const id of images?.createdImages ?? [])
      await docker
        .getImage(id)
        .remove({ force: true })
        .catch(() => {});
    try {
      execFileSync('umount', ['-l', small]);
    } catch {
      // not mounted
    }
    rmSync(dir, { recursive: true, force: true });
  });

  for (const driver of ['docker', 'qemu'] as const) {
    test(`${driver}: a 15,000 GB ext4 disk is refused at POST /labels, naming the disk and the file system`, async () => {
      const options =
        driver === 'docker' ? { image: `${prefix}-img:1`, images: [images.rootfs], command: ['sleep', '60'] } : { kernel: images.rootfs };
      const r = await api(userToken, 'POST', '/labels', {
        name: `huge-${driver}`,
        definitions: [{ driver, options, requirements: { cpu: 1, ram: 1, disks: { ws: { type: 'ext4', size: 15_000 } } } }],
      });
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body.error?.code, 'INVALID_DEFINITION');
      assert.equal(r.body.error?.details?.field, 'definitions[0].requirements.disks.ws.size');
      assert.match(r.body.error.message, /15000 GB can never fit/);
      assert.deepEqual((await api(userToken, 'GET', `/labels?name=huge-${driver}`)).body.items, [], 'nothing stored');
      assert.ok(alive(), 'the node is still running');
    });
  }

  test('docker: a disk that fits the file system but not its free space is refused at allocation, nothing is left, the next definition is used', async () => {
    const l = await api(userToken, 'POST', '/labels', {
      name: 'too-big-now',
      definitions: [
        {
          driver: 'docker',
          options: { image: `${prefix}-img:1`, images: [images.rootfs], command: ['sleep', '60'] },
          requirements: { cpu: 1, ram: 1, disks: { ws: { type: 'ext4', size: 2 } } },
        },
        { driver: 'test', requirements: { cpu: 1, ram: 1 } },
      ],
    });
    assert.equal(l.status, 201, JSON.stringify(l.body));
    const app = await api(userToken, 'POST', '/applications', { label: 'too-big-now' });
    assert.equal(app.status, 201);
    const uid = app.body.uid as string;
    let status = '';
    for (let i = 0; i < 1200 && status !== 'ALLOCATED' && status !== 'ERROR'; i++) {
      status = (await api(userToken, 'GET', `/applications/${uid}/state`)).body.status as string;
      if (status !== 'ALLOCATED' && status !== 'ERROR') await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(status, 'ALLOCATED');
    const res = await api(userToken, 'GET', `/applications/${uid}/resource`);
    assert.equal(res.body.driver, 'test', 'the fallback definition was used');
    const got = (await api(userToken, 'GET', `/applications/${uid}/states`)).body as unknown;
    const states = (Array.isArray(got) ? got : (got as { items: unknown[] }).items) as Array<{ description: string }>;
    const why = states.map((s) => s.description).join('\n');
    assert.match(why, /disk "ws" \(ext4, 2 GB\) does not fit: \d+(\.\d)? GB free on the file system of /);
    // nothing left behind: no resource folder or disk image, no loop mount, no container
    assert.deepEqual(readdirSync(join(workspace, 'res')), []);
    assert.ok(!readFileSync('/proc/mounts', 'utf8').includes(workspace), 'no mount under the workspace');
    const containers = await docker.listContainers({ all: true, filters: JSON.stringify({ label: [`shoal.application=${uid}`] }) });
    assert.deepEqual(containers, []);
    assert.equal((await api(userToken, 'POST', `/applications/${uid}/deallocate`)).status, 202);
    assert.ok(alive(), 'the node is still running');
  });
});
