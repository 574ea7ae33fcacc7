import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { readProgress } from '../engine.js';
import { freePort } from './harness.js';

const run = promisify(execFile);

/** A real registry (Debian's docker-registry, distribution 2.8) on a random loopback port, for one test file. */
export interface TestRegistry {
  /** "127.0.0.1:<port>" */
  host: string;
  /** with TLS: the CA the Engine was given under /etc/docker/certs.d/<host>/ */
  ca: string | undefined;
  /** with htpasswd: the user and password it accepts */
  user: { username: string; password: string } | undefined;
  /** Stop the registry, remove its storage and the CA given to the Engine. */
  stop(): Promise<void>;
}

async function answers(host: string, ca: string | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const req = (ca ? httpsRequest : httpRequest)(`${ca ? 'https' : 'http'}://${host}/v2/`, { ca, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200 || res.statusCode === 401);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** A CA and a server certificate for 127.0.0.1 (openssl). */
async function makeCerts(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const p = (f: string): string => join(dir, f);
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=shoal test CA',
    '-keyout',
    p('ca.key'),
    '-out',
    p('ca.crt'),
  ]);
  await run('openssl', [
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    p('server.key'),
    '-out',
    p('server.csr'),
  ]);
  await writeFile(p('ext.cnf'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    p('server.csr'),
    '-CA',
    p('ca.crt'),
    '-CAkey',
    p('ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    p('ext.cnf'),
    '-out',
    p('server.crt'),
  ]);
  return { ca: p('ca.crt'), cert: p('server.crt'), key: p('server.key') };
}

/**
 * Start a registry: plain HTTP, or (`secure`) TLS with a fresh CA — installed for the Engine under
 * /etc/docker/certs.d/127.0.0.1:<port>/ca.crt and removed by stop() — and an htpasswd user.
 */
export async function startRegistry(secure = false): Promise<TestRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-registry-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  let ca: string | undefined;
  let user: TestRegistry['user'];
  const lines = [
    'version: 0.1',
    'log: { level: error, accesslog: { disabled: true } }',
    `storage: { filesystem: { rootdirectory: ${join(dir, 'data')} }, delete: { enabled: true } }`,
  ];
  const certsDir = `/etc/docker/certs.d/${host}`;
  if (secure) {
    const certs = await makeCerts(dir);
    ca = await readFile(certs.ca, 'utf8');
    lines.push(`http: { addr: "${host}", tls: { certificate: ${certs.cert}, key: ${certs.key} } }`);
    user = { username: 'shoal', password: `pw-${Math.random().toString(36).slice(2)}` };
    const { stdout } = await run('htpasswd', ['-Bbn', user.username, user.password]);
    await writeFile(join(dir, 'htpasswd'), stdout);
    lines.push(`auth: { htpasswd: { realm: shoal-test, path: ${join(dir, 'htpasswd')} } }`);
    await mkdir(certsDir, { recursive: true });
    await writeFile(join(certsDir, 'ca.crt'), ca);
  } else {
    lines.push(`http: { addr: "${host}" }`);
  }
  await writeFile(join(dir, 'config.yml'), `${lines.join('\n')}\n`);
  let out = '';
  const proc: ChildProcess = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
  proc.stderr?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
    if (secure) await rm(certsDir, { recursive: true, force: true });
  };
  for (let i = 0; i < 200; i++) {
    if (proc.exitCode !== null) break;
    if (await answers(host, ca)) return { host, ca, user, stop };
    await new Promise((r) => setTimeout(r, 50));
  }
  await stop();
  throw new Error(`docker-registry did not answer on ${host}: ${out}`);
}

/**
 * Push a local image to a test registry as `<registry>/<name>:<tag>` and untag it locally (so the
 * daemon has to pull it again); resolves to the manifest digest the registry reported.
 */
export async function pushImage(
  docker: Docker,
  image: string,
  target: { registry: TestRegistry; name: string; tag: string },
): Promise<string> {
  const repo = `${target.registry.host}/${target.name}`;
  await docker.getImage(image).tag({ repo, tag: target.tag });
  const auth = target.registry.user ? { ...target.registry.user, serveraddress: target.registry.host } : undefined;
  const out = (await readProgress(
    docker,
    await docker.getImage(`${repo}:${target.tag}`).push({ tag: target.tag, authconfig: auth }),
  )) as Array<{
    aux?: { Digest?: string };
  }>;
  const digest = out.find((m) => m.aux?.Digest)?.aux?.Digest;
  await docker.getImage(`${repo}:${target.tag}`).remove({ noprune: false });
  if (!digest) throw new Error(`push of ${repo}:${target.tag} reported no digest`);
  return digest;
}
