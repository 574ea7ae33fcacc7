import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { DriverError } from '../../contract/index.js';
import { readProgress } from './engine.js';
import { freePort, resourceTraces } from './test-helpers/harness.js';
import { pushImage, startRegistry, type TestRegistry } from './test-helpers/registry.js';
import { createSuite, type Suite } from './test-helpers/suite.js';

const T = { timeout: 240_000 };

/** How often the driver logged `msg` for this image reference. */
function logged(s: Suite, msg: string, image: string): number {
  return s.h.log.lines.filter((l) => l.msg === msg && (l.obj as { image?: string }).image === image).length;
}

function imageError(pattern: RegExp, ...mustNotContain: string[]): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof DriverError, String(err));
    assert.equal(err.code, 'IMAGE', err.message);
    assert.match(err.message, pattern);
    for (const secret of mustNotContain) assert.ok(!err.message.includes(secret), `the error tells a secret: ${err.message}`);
    return true;
  };
}

describe('docker driver: registry pulls (options.image without options.images)', { timeout: 900_000 }, () => {
  let plain: TestRegistry;
  let secure: TestRegistry;
  let s: Suite;
  let silent: net.Server;
  const silentSockets = new Set<net.Socket>();
  let silentHost = '';
  let deadHost = '';
  const pwDir = mkdtempSync(join(tmpdir(), 'shoal-registry-pw-'));
  const pwFile = join(pwDir, 'password');
  let digest = '';
  let repo = '';
  let privateRepo = '';

  before(async () => {
    plain = await startRegistry();
    secure = await startRegistry(true);
    // a registry address where nothing listens, and one that accepts and never answers
    deadHost = `127.0.0.1:${await freePort()}`;
    silent = net.createServer((c) => void silentSockets.add(c));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    silentHost = `127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
    writeFileSync(pwFile, `${secure.user!.password}\n`, { mode: 0o600 });
    s = await createSuite('reg', {
      allow_registries: [plain.host, deadHost, silentHost],
      registries: { [secure.host]: { username: secure.user!.username, password_file: pwFile } },
      pull_timeout: 3,
    });
    // the image the tests push: the busybox rootfs with a default command
    const src = `${s.h.prefix}-src:v1`;
    const [srcRepo, srcTag] = src.split(':') as [string, string];
    await readProgress(
      s.h.docker,
      await s.h.docker.importImage(fileURLToPath(s.imgs.rootfs.url), { repo: srcRepo, tag: srcTag, changes: 'CMD ["sleep","3600"]' }),
    );
    s.images.push(src);
    repo = `${plain.host}/shoal/${s.h.prefix}`;
    privateRepo = `${secure.host}/private/${s.h.prefix}`;
    digest = await pushImage(s.h.docker, src, { registry: plain, name: `shoal/${s.h.prefix}`, tag: 'v1' });
    await pushImage(s.h.docker, src, { registry: plain, name: `shoal/${s.h.prefix}`, tag: 'v2' });
    await pushImage(s.h.docker, src, { registry: secure, name: `private/${s.h.prefix}`, tag: 'v1' });
    // gone from the daemon, layers included: the first pull has to download them
    await s.h.docker.getImage(src).remove({ force: true });
    await assert.rejects(s.h.docker.getImage(`${repo}@${digest}`).inspect(), 'the daemon still has the pushed image');
  }, T);

  after(async () => {
    for (const ref of [`${repo}:v1`, `${repo}:v2`, `${repo}@${digest}`, `${privateRepo}:v1`]) s?.images.push(ref);
    await s?.destroy();
    for (const c of silentSockets) c.destroy();
    await new Promise<void>((r) => (silent ? silent.close(() => r()) : r()));
    await plain?.stop();
    await secure?.stop();
    rmSync(pwDir, { recursive: true, force: true });
  }, T);

  it('pulls name:tag through the Engine, tells how far the pull is, logs it; "missing" pulls once, "always" again', T, async () => {
    const image = `${repo}:v1`;
    const notes: string[] = [];
    const def = s.def({ image, command: ['sleep', '3600'] });
    const r = await s.allocate(def, {}, { ...s.context(), progress: (n) => notes.push(n) });
    const info = await s.h.docker.getContainer(r.container).inspect();
    const img = await s.h.docker.getImage(info.Image).inspect();
    assert.ok(img.RepoTags.includes(image), `the container runs ${image}: ${img.RepoTags.join(', ')}`);
    assert.ok(img.RepoDigests.includes(`${repo}@${digest}`), `pulled from the registry: ${img.RepoDigests.join(', ')}`);
    assert.ok(
      notes.some((n) => n.startsWith(`pulling ${image}: `) && /[1-9]\d*\/[1-9]\d* layers, [\d.]+ of [1-9][\d.]* MB/.test(n)),
      `progress notes: ${JSON.stringify(notes)}`,
    );
    assert.equal(logged(s, 'image pull started', image), 1);
    assert.equal(logged(s, 'image pulled', image), 1);
    const done = s.h.log.lines.find((l) => l.msg === 'image pulled' && (l.obj as { image?: string }).image === image);
    const p = done?.obj as { layers: number; done: number; bytes: number; total: number };
    assert.ok(p.layers >= 1 && p.done === p.layers && p.bytes === p.total && p.total > 1024 * 1024, `logged ${JSON.stringify(p)}`);
    const again = await s.allocate(def, {}, s.context());
    assert.equal(logged(s, 'image pull started', image), 1, 'pull "missing": the daemon has it, no second pull');
    const always = await s.allocate(s.def({ image, command: ['sleep', '3600'], pull: 'always' }), {}, s.context());
    assert.equal(logged(s, 'image pull started', image), 2, 'pull "always" pulls at every allocation');
    for (const x of [r, again, always]) await s.deallocate(x.hwaddr);
  });

  it('a digest reference runs exactly that digest; an unknown digest fails with the registry reason, leaving nothing', T, async () => {
    const r = await s.allocate(s.def({ image: `${repo}@${digest}`, command: ['sleep', '3600'], pull: 'always' }), {}, s.context());
    const info = await s.h.docker.getContainer(r.container).inspect();
    const img = await s.h.docker.getImage(info.Image).inspect();
    assert.ok(img.RepoDigests.includes(`${repo}@${digest}`), `runs ${digest}: ${img.RepoDigests.join(', ')}`);
    await s.deallocate(r.hwaddr);
    const unknown = `sha256:${'ab'.repeat(32)}`;
    await assert.rejects(
      s.driver.allocate(s.def({ image: `${repo}@${unknown}`, command: ['sleep', '1'] }), {}, s.context()),
      imageError(new RegExp(`cannot pull ${repo}@${unknown} from ${plain.host}: the registry has no such image`)),
    );
    assert.deepEqual(await resourceTraces(s.h), []);
    assert.deepEqual(await s.driver.listResources(), []);
  });

  it('several allocations needing one image share one pull', T, async () => {
    const image = `${repo}:v2`;
    const def = s.def({ image, command: ['sleep', '3600'], pull: 'always' });
    const made = await Promise.all([1, 2, 3].map(() => s.allocate(def, {}, s.context())));
    assert.equal(new Set(made.map((m) => m.hwaddr)).size, 3);
    assert.equal(logged(s, 'image pull started', image), 1, 'three allocations, one pull');
    for (const m of made) await s.deallocate(m.hwaddr);
  });

  it('a private registry (TLS + htpasswd): credentials from the node config only, never told; refused ones fail plainly', T, async () => {
    const image = `${privateRepo}:v1`;
    const password = secure.user!.password;
    const r = await s.allocate(s.def({ image, command: ['sleep', '3600'] }), { JOB: '1' }, s.context());
    const info = await s.h.docker.getContainer(r.container).inspect();
    assert.ok((await s.h.docker.getImage(info.Image).inspect()).RepoTags.includes(image));
    assert.ok(!JSON.stringify(info).includes(password), 'the password reached the container (labels, env…)');
    await s.deallocate(r.hwaddr);
    // the password file is read at each pull: a wrong one is refused by the registry
    const wrong = `wrong-${password}`;
    writeFileSync(pwFile, wrong);
    try {
      await assert.rejects(
        s.driver.allocate(s.def({ image, command: ['sleep', '1'], pull: 'always' }), {}, s.context()),
        imageError(/the registry refused the credentials/, password, wrong),
      );
    } finally {
      writeFileSync(pwFile, password);
    }
    assert.ok(!s.h.log.text().includes(password) && !s.h.log.text().includes(wrong), 'a password reached the log');
    assert.deepEqual(await resourceTraces(s.h), []);
  });

  it('an unknown image, a registry that is down, one that never answers: a reason in plain words, nothing left', T, async () => {
    const cases: Array<[string, RegExp]> = [
      [`${plain.host}/shoal/nosuch-${s.h.prefix}:v1`, /the registry has no such image/],
      [`${deadHost}/shoal/x:v1`, /the registry cannot be reached/],
      [`${silentHost}/shoal/x:v1`, /timed out after 3 s/],
    ];
    for (const [image, why] of cases) {
      await assert.rejects(s.driver.allocate(s.def({ image, command: ['sleep', '1'] }), {}, s.context()), imageError(why));
    }
    assert.deepEqual(await resourceTraces(s.h), []);
    assert.deepEqual(await s.driver.listResources(), []);
    // other test files load images into the same daemon meanwhile: look for these references only
    const repos = cases.map(([image]) => image.slice(0, image.lastIndexOf(':')));
    const left = (await s.h.docker.listImages())
      .flatMap((i) => [...(i.RepoTags ?? []), ...(i.RepoDigests ?? [])])
      .filter((ref) => repos.some((r) => ref.startsWith(`${r}:`) || ref.startsWith(`${r}@`)));
    assert.deepEqual(left, [], 'a failed pull left an image');
  });

  it('a registry the node does not allow is refused by validateDefinition and allocate, naming options.image', T, async () => {
    for (const image of ['10.1.2.3:5000/x:1', 'debian:12', 'ghcr.io/x/y:1']) {
      const def = s.def({ image, command: ['sleep', '1'] });
      for (const call of [() => s.driver.validateDefinition(def), () => s.driver.allocate(def, {}, s.context())]) {
        await assert.rejects(call(), (err: unknown) => {
          assert.ok(err instanceof DriverError && err.code === 'INVALID_DEFINITION', String(err));
          assert.equal(err.field, 'options.image');
          assert.match(err.message, /is not allowed on this node/);
          return true;
        });
      }
    }
    assert.deepEqual(await resourceTraces(s.h), []);
  });
});
