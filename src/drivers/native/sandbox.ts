/**
 * Starting a sandbox: the command line, the files it sees, and the launch.
 *
 * The node (root) spawns `/bin/sh -c <join cgroup; exec>`: the shell writes its own pid into the
 * sandbox's cgroup.procs files first, so everything after it is limited and found by its cgroup.
 * It execs `nsenter --net=<the sandbox's namespace>` (host-net.ts), which execs `setpriv` to drop
 * to the sandbox's uid (no supplementary groups, no capabilities, empty bounding set, no new
 * privileges), which execs `bwrap`. bwrap, unprivileged, makes new user, mount, pid, ipc, uts and
 * cgroup namespaces (and forbids further user namespaces), builds a root of its own: the host's
 * /usr read-only (and the /bin, /lib… links of a merged /usr), a few read-only host files of /etc
 * plus generated passwd/group/hosts/hostname, fresh /proc and /dev, tmpfs /tmp and home, the disks
 * at /mnt/<label> and the allowed mounts; nothing else of the host (no data dir, no token, no
 * other sandbox) exists in it. It loads the default seccomp filter (seccomp.ts) and execs the
 * command as pid 1's child. `--json-status-fd` reports the command's host pid once it runs.
 */
import { spawn } from 'node:child_process';
import { lstat, open, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { DriverError } from '../../contract/index.js';
import type { AttachedDisk } from './disks.js';
import type { NativeMount } from './definition.js';
import { mkdirWithMode, writeFileWithMode } from './modes.js';

export const SANDBOX_HOME = '/home/shoal';
const SANDBOX_PATH = '/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin';
/** top-level links or directories of the host that lead into /usr (merged /usr) */
const USR_LINKS = ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'];
/** read-only host files and folders of /etc a program commonly needs (nothing secret) */
const HOST_ETC = [
  'ld.so.cache',
  'ld.so.conf',
  'ld.so.conf.d',
  'alternatives',
  'ssl',
  'ca-certificates',
  'ca-certificates.conf',
  'localtime',
  'timezone',
  'nsswitch.conf',
  'services',
  'protocols',
  'mime.types',
  'os-release',
  'debian_version',
  'profile',
  'perl',
];
const START_TIMEOUT_MS = 30_000;

export interface SandboxSpec {
  /** the sandbox id (mac hex) */
  id: string;
  uid: number;
  command: string[];
  env: Record<string, string>;
  disks: readonly AttachedDisk[];
  mounts: readonly NativeMount[];
  /** the sandbox's network namespace (a path under /run/netns) */
  netnsPath: string;
  /** the cgroup.procs files to join before anything else */
  cgroupProcs: string[];
  /** per-sandbox bind sources: <sandbox dir>/<id> */
  dir: string;
  /** where the command's stdout and stderr go (a file of the driver's data dir) */
  consoleLog: string;
  /** the seccomp program (seccomp.ts) */
  seccompFile: string;
  bwrap: string;
  metaUrl: string;
  /** the host's resolv.conf is given to nat sandboxes */
  nat: boolean;
}

export interface Started {
  /** bwrap's own process (the sandbox's monitor, outside its pid namespace) */
  monitorPid: number;
  /** the command (the sandbox's init's child), by its host pid */
  initPid: number;
}

/** passwd, group, hosts, hostname for the sandbox (root-owned, world-readable: nothing secret). */
async function writeEtc(spec: SandboxSpec): Promise<string> {
  const etc = join(spec.dir, 'etc');
  await mkdirWithMode(etc, 0o755);
  const host = `shoal-${spec.id}`;
  await writeFileWithMode(
    join(etc, 'passwd'),
    `root:x:0:0:root:/root:/bin/sh\nshoal:x:${spec.uid}:${spec.uid}:shoal:${SANDBOX_HOME}:/bin/sh\n`,
    0o644,
  );
  await writeFileWithMode(join(etc, 'group'), `root:x:0:\nshoal:x:${spec.uid}:\n`, 0o644);
  await writeFileWithMode(join(etc, 'hostname'), `${host}\n`, 0o644);
  await writeFileWithMode(join(etc, 'hosts'), `127.0.0.1\tlocalhost\n127.0.1.1\t${host}\n`, 0o644);
  return etc;
}

/** bwrap's arguments for the root file system of /usr's top-level links. */
async function usrLinks(): Promise<string[]> {
  const out: string[] = [];
  for (const name of USR_LINKS) {
    const s = await lstat(`/${name}`).catch(() => undefined);
    if (!s) continue;
    if (s.isSymbolicLink()) out.push('--symlink', await readlink(`/${name}`), `/${name}`);
    else if (s.isDirectory()) out.push('--ro-bind', `/${name}`, `/${name}`);
  }
  return out;
}

/** The bwrap command line (without the program): exported for tests and the benchmark's raw launch. */
export async function bwrapArgs(spec: SandboxSpec, fds: { seccomp: number; status: number; ready: number }): Promise<string[]> {
  const etc = await writeEtc(spec);
  const env: Record<string, string> = {
    ...spec.env,
    PATH: SANDBOX_PATH,
    HOME: SANDBOX_HOME,
    USER: 'shoal',
    LOGNAME: 'shoal',
    SHOAL_META_URL: spec.metaUrl,
  };
  const args = ['--clearenv'];
  for (const [k, v] of Object.entries(env)) args.push('--setenv', k, v);
  args.push(
    '--unshare-user',
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup-try',
    '--disable-userns',
    '--hostname',
    `shoal-${spec.id}`,
    '--new-session',
    '--ro-bind',
    '/usr',
    '/usr',
    ...(await usrLinks()),
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    '--tmpfs',
    '/tmp',
    '--dir',
    '/var',
    '--tmpfs',
    '/var/tmp',
    '--dir',
    '/etc',
  );
  for (const f of HOST_ETC) args.push('--ro-bind-try', `/etc/${f}`, `/etc/${f}`);
  for (const f of ['passwd', 'group', 'hosts', 'hostname']) args.push('--ro-bind', join(etc, f), `/etc/${f}`);
  if (spec.nat) args.push('--ro-bind-try', '/etc/resolv.conf', '/etc/resolv.conf');
  args.push('--perms', '0700', '--tmpfs', SANDBOX_HOME);
  for (const d of spec.disks) args.push('--bind', d.mnt, `/mnt/${d.label}`);
  for (const m of spec.mounts) args.push(m.writable ? '--bind' : '--ro-bind', m.source, m.target);
  args.push('--chdir', SANDBOX_HOME, '--seccomp', String(fds.seccomp), '--json-status-fd', String(fds.status));
  // the sandbox is set up once this runs inside it: it says so on the ready fd, closes it and execs the command
  args.push('--', '/bin/sh', '-c', `echo ready >&${fds.ready}; exec ${fds.ready}>&-; exec "$@"`, 'sh', ...spec.command);
  return args;
}

/** The shell that joins the cgroup(s) named in $SHOAL_CGROUP_PROCS, then execs its arguments. */
export const JOIN_CGROUP = 'for f in $SHOAL_CGROUP_PROCS; do echo $$ > "$f" || exit 97; done; exec "$@"';

/** Drop to the sandbox's uid for good: no groups, no capabilities at all, no new privileges. */
export function setprivArgs(uid: number): string[] {
  return [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs', '--'];
}

/**
 * Start the sandbox and resolve once its command runs (bwrap reported its pid), or reject with
 * what bwrap said (its stderr lands in the console log) when it could not set the sandbox up.
 */
export async function startSandbox(spec: SandboxSpec): Promise<Started> {
  const args = await bwrapArgs(spec, { seccomp: 3, status: 4, ready: 5 });
  // bwrap's status goes to a file, not a pipe: it must never meet a closed reader (SIGPIPE) when the
  // node is gone, and the node only needs the first document (the command's pid)
  const statusFile = `${spec.consoleLog}.status`;
  const readyFile = `${spec.consoleLog}.ready`;
  const consoleFh = await open(spec.consoleLog, 'a', 0o600);
  const seccompFh = await open(spec.seccompFile, 'r');
  const statusFh = await open(statusFile, 'w', 0o600);
  const readyFh = await open(readyFile, 'w', 0o600);
  let child;
  try {
    child = spawn(
      '/bin/sh',
      ['-c', JOIN_CGROUP, 'sh', 'nsenter', `--net=${spec.netnsPath}`, '--', 'setpriv', ...setprivArgs(spec.uid), spec.bwrap, ...args],
      {
        detached: true,
        stdio: ['ignore', consoleFh.fd, consoleFh.fd, seccompFh.fd, statusFh.fd, readyFh.fd],
        env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', SHOAL_CGROUP_PROCS: spec.cgroupProcs.join(' ') },
      },
    );
  } finally {
    await consoleFh.close();
    await seccompFh.close();
    await statusFh.close();
    await readyFh.close();
  }
  const proc = child;
  const monitorPid = proc.pid;
  if (monitorPid === undefined) throw new DriverError('BACKEND', 'cannot start the sandbox: no process');
  proc.unref();
  let exited: string | undefined;
  proc.once('exit', (code, signal) => (exited = signal ? `killed by ${signal}` : `exited with ${code}`));
  proc.once('error', (err) => (exited = err.message));
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (let i = 0; Date.now() < deadline; i++) {
    const ready = (await readFile(readyFile, 'utf8').catch(() => '')) !== '';
    const m = ready ? /"child-pid"\s*:\s*(\d+)/.exec(await readFile(statusFile, 'utf8').catch(() => '')) : null;
    if (m) return { monitorPid, initPid: Number(m[1]) };
    if (exited !== undefined) {
      const said = (await readFile(spec.consoleLog, 'utf8').catch(() => '')).trim().split('\n').slice(-3).join(' / ');
      throw new DriverError('BACKEND', `the sandbox did not start (bwrap ${exited}${said ? `: ${said.slice(0, 500)}` : ''})`);
    }
    await new Promise((r) => setTimeout(r, i < 50 ? 1 : 10));
  }
  throw new DriverError('BACKEND', `the sandbox did not start within ${START_TIMEOUT_MS / 1000} s`);
}
