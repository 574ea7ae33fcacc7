import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DriverError } from '../../contract/index.js';
import { parseDockerDefinition } from './definition.js';
import { checkRegistryAllowed, parseRegistrySettings, registryAuth } from './registry-config.js';
import { parseRegistryRef } from './registry-ref.js';
import { describeProgress, pullFailure } from './pulls.js';

const DIGEST = `sha256:${'c'.repeat(64)}`;

test('registry references split the way the Engine reads them', () => {
  const cases: Array<[string, string, string, string, string, string]> = [
    // input, registry, repository, tag, digest, pullRef
    ['debian:12', 'docker.io', 'debian', '12', '', 'debian:12'],
    ['busybox', 'docker.io', 'busybox', 'latest', '', 'busybox:latest'],
    ['docker.io/library/debian:12', 'docker.io', 'debian', '12', '', 'debian:12'],
    ['index.docker.io/me/app', 'docker.io', 'me/app', 'latest', '', 'me/app:latest'],
    ['me/app:1.2', 'docker.io', 'me/app', '1.2', '', 'me/app:1.2'],
    ['127.0.0.1:5000/ns/name:tag', '127.0.0.1:5000', '127.0.0.1:5000/ns/name', 'tag', '', '127.0.0.1:5000/ns/name:tag'],
    ['Registry.Example.com/a/b/c', 'registry.example.com', 'registry.example.com/a/b/c', 'latest', '', 'registry.example.com/a/b/c:latest'],
    ['localhost/x', 'localhost', 'localhost/x', 'latest', '', 'localhost/x:latest'],
    [`name@${DIGEST}`, 'docker.io', 'name', '', DIGEST, `name@${DIGEST}`],
    [`reg.io:443/n:t@${DIGEST}`, 'reg.io:443', 'reg.io:443/n', 't', DIGEST, `reg.io:443/n@${DIGEST}`],
  ];
  for (const [input, registry, repository, tag, digest, pullRef] of cases) {
    assert.deepEqual(parseRegistryRef(input), { registry, repository, tag, digest, pullRef }, input);
  }
});

test('allow_registries: Docker Hub only by default; a listed host[:port], a credentialed one or "*" opens more', () => {
  const dflt = parseRegistrySettings({});
  assert.deepEqual(dflt.allow, ['docker.io']);
  assert.equal(dflt.pullTimeoutMs, 600_000);
  checkRegistryAllowed(dflt, parseRegistryRef('debian:12'));
  for (const ref of ['127.0.0.1:5000/x:1', 'localhost/x', 'ghcr.io/a/b', '10.0.0.1/x']) {
    assert.throws(
      () => checkRegistryAllowed(dflt, parseRegistryRef(ref)),
      (e: unknown) =>
        e instanceof DriverError && e.code === 'INVALID_DEFINITION' && e.field === 'options.image' && /not allowed/.test(e.message),
      ref,
    );
  }
  const listed = parseRegistrySettings({ allow_registries: ['GHCR.io'], registries: { 'reg.lan:5000': { username: 'u', password: 'p' } } });
  checkRegistryAllowed(listed, parseRegistryRef('ghcr.io/a/b:1'));
  checkRegistryAllowed(listed, parseRegistryRef('reg.lan:5000/a:1'));
  assert.throws(() => checkRegistryAllowed(listed, parseRegistryRef('reg.lan/a:1')), /reg\.lan is not allowed/);
  assert.throws(() => checkRegistryAllowed(listed, parseRegistryRef('debian:12')), /docker\.io is not allowed/);
  checkRegistryAllowed(parseRegistrySettings({ allow_registries: ['*'] }), parseRegistryRef('10.0.0.1:1/x'));
});

test('registries config: exactly one of password/password_file, an absolute file, a host key; bad entries name the field', async () => {
  const bad: Array<[Parameters<typeof parseRegistrySettings>[0], string]> = [
    [{ registries: { 'r.io': { username: 'u' } } }, 'registries.r.io'],
    [{ registries: { 'r.io': { username: 'u', password: 'p', password_file: '/x' } } }, 'registries.r.io'],
    [{ registries: { 'r.io': { username: 'u', password_file: 'rel/pw' } } }, 'registries.r.io.password_file'],
    [{ registries: { 'http://r.io': { username: 'u', password: 'p' } } }, 'registries.http://r.io'],
    [{ allow_registries: ['r.io/path'] }, 'allow_registries[0]'],
  ];
  for (const [raw, field] of bad) {
    assert.throws(
      () => parseRegistrySettings(raw),
      (e: unknown) => e instanceof DriverError && e.code === 'INVALID_CONFIG' && e.field === field,
      field,
    );
  }
  const s = parseRegistrySettings({ registries: { 'r.io': { username: 'u', password_file: '/nonexistent/shoal-pw' } } });
  await assert.rejects(
    registryAuth(s, 'r.io'),
    (e: unknown) => e instanceof DriverError && /cannot read \/nonexistent\/shoal-pw \(ENOENT\)/.test(e.message),
  );
  assert.equal(await registryAuth(s, 'other.io'), undefined);
  const hub = parseRegistrySettings({ registries: { 'docker.io': { username: 'u', password: 'p' } } });
  assert.deepEqual(await registryAuth(hub, 'docker.io'), { username: 'u', password: 'p', serveraddress: 'https://index.docker.io/v1/' });
});

test('options.pull: missing (default) or always, for registry images only', () => {
  const def = (options: Record<string, unknown>): string => JSON.stringify({ options, requirements: { cpu: 1, ram: 1 } });
  assert.equal(parseDockerDefinition(def({ image: 'debian:12' })).options.pull, 'missing');
  assert.equal(parseDockerDefinition(def({ image: 'debian:12', pull: 'always' })).options.pull, 'always');
  const refused: Array<[Record<string, unknown>, RegExp]> = [
    [{ image: 'debian:12', pull: 'sometimes' }, /must be one of "missing", "always"/],
    [{ image: 'x:1', pull: 'always', images: [{ url: 'file:///srv/x.tar', sum: DIGEST }] }, /applies to registry images only/],
    [{ image: DIGEST, pull: 'always' }, /an image id cannot be pulled/],
  ];
  for (const [options, why] of refused) {
    assert.throws(
      () => parseDockerDefinition(def(options)),
      (e: unknown) => e instanceof DriverError && e.field === 'options.pull' && why.test(e.message),
      JSON.stringify(options),
    );
  }
});

test('pull progress and failures in plain words', () => {
  assert.equal(
    describeProgress({ layers: 5, done: 2, bytes: 12.3 * 1024 * 1024, total: 40.1 * 1024 * 1024 }),
    '2/5 layers, 12.3 of 40.1 MB',
  );
  assert.equal(describeProgress({ layers: 1, done: 0, bytes: 0, total: 0 }), '0/1 layers, 0.0 of ? MB');
  const ref = parseRegistryRef('r.io:5000/a:1');
  const words: Array<[string, RegExp]> = [
    ['manifest for r.io:5000/a:1 not found: manifest unknown', /the registry has no such image/],
    ['unauthorized: authentication required', /refused the credentials/],
    ['Get "https://r.io:5000/v2/": dial tcp: connect: connection refused', /cannot be reached/],
    ['something else', /the pull failed \(something else\)/],
  ];
  for (const [reason, plain] of words) assert.match(pullFailure(ref, reason), plain);
  assert.match(pullFailure(ref, 'x'), /^cannot pull r\.io:5000\/a:1 from r\.io:5000: /);
});
