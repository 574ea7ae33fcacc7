/**
 * One sandbox's network on the node host, for the drivers that run each environment in a network
 * namespace of its own (qemu: the VM's QEMU and its user-mode network; native: the sandbox itself).
 * The namespace's only link is a veth pair to the host (`<hostIf prefix><mac id>` on the host)
 * with a /30 from the driver's pool; IPv6 is off. Its loopback stays down unless asked for (qemu:
 * slirp's 10.0.2.2 → 127.0.0.1 mapping then reaches nothing; native: the sandbox's own lo is up).
 *
 * - The sandbox-visible Meta API address (`meta_address`:80) is DNATed inside the namespace to the
 *   sandbox's own Meta API listener on the host end of its veth (meta-channel.ts), which answers
 *   only connections from the namespace's address — an address the sandbox cannot change.
 * - Host-only: the namespace has a route to the Meta API address and nothing else.
 * - nat: a default route via the host, MASQUERADE on the way out, forwarding to anything but
 *   other sandboxes and local bridges.
 * - Either way, from the veth the host itself accepts only the Meta API listener (INPUT), so the
 *   sandbox reaches none of the host's own addresses or services.
 *
 * The rules live in driver-owned iptables chains named `<chain prefix><tag>-<mac id>-I|F|N`;
 * removing a sandbox removes its chains, jumps, namespace (and with it the veth pair) and address
 * claim. Orphans of a crash are found by these names and removed at prepare.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DriverError } from '../../contract/index.js';
import { run } from './exec.js';
import { macHex } from './mac.js';
import { pathExists } from '../../lib/fs.js';

/** Where address claims live, host-wide for every driver (tmpfs: gone at reboot, like the namespaces themselves). */
const CLAIM_DIR = '/run/shoal-net';
const NETNS_DIR = '/run/netns';
/** A claim file younger than this whose namespace does not exist yet belongs to an allocation in progress. */
const CLAIM_GRACE_MS = 120_000;

export interface VmNet {
  netns: string;
  /** the host end of the veth pair */
  hostIf: string;
  /** host end address (the VM's Meta API listener binds here) */
  hostAddr: string;
  /** namespace end address: the source of every connection the VM makes */
  nsAddr: string;
  nat: boolean;
}

export interface Pool {
  /** network address as a number */
  base: number;
  /** prefix length (8–24) */
  prefix: number;
}

export function ipToNum(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

export function numToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

/** Parse "a.b.c.d/len" (the address must be the network address). */
export function parsePool(cidr: string): Pool | undefined {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(cidr);
  if (!m || m[1]!.split('.').some((o) => Number(o) > 255)) return undefined;
  const prefix = Number(m[2]);
  if (prefix < 8 || prefix > 24) return undefined;
  const base = ipToNum(m[1]!);
  if (base % 2 ** (32 - prefix) !== 0) return undefined;
  return { base, prefix };
}

function slotCount(pool: Pool): number {
  return 2 ** (32 - pool.prefix) / 4;
}

/** How a driver names its network objects (short: interface names have 15 characters at most). */
export interface NetPrefixes {
  /** namespace names: `<netns><tag>-<mac id>` */
  netns: string;
  /** host end of the veth: `<hostIf><mac id>` (3 characters: 3 + 12 = IFNAMSIZ - 1) */
  hostIf: string;
  /** iptables chains: `<chain><tag>-<mac id>-I|F|N` */
  chain: string;
}

export const QEMU_NET_PREFIXES: NetPrefixes = { netns: 'shoal-q', hostIf: 'shq', chain: 'SQ' };
export const NATIVE_NET_PREFIXES: NetPrefixes = { netns: 'shoal-n', hostIf: 'shn', chain: 'SN' };

/** Names of one driver instance's network objects. `tag` is the instance's 12-hex tag. */
export class NetNames {
  readonly #short: string;
  readonly #p: NetPrefixes;

  constructor(tag: string, prefixes: NetPrefixes) {
    this.#short = tag.slice(0, 8);
    this.#p = prefixes;
  }

  netnsPrefix(): string {
    return `${this.#p.netns}${this.#short}-`;
  }

  netns(hwaddr: string): string {
    return `${this.netnsPrefix()}${macHex(hwaddr)}`;
  }

  /** 15 characters at most (IFNAMSIZ) */
  hostIf(hwaddr: string): string {
    return `${this.#p.hostIf}${macHex(hwaddr)}`;
  }

  chainPrefix(): string {
    return `${this.#p.chain}${this.#short}-`;
  }

  /** `prerouting` (nat table) only the native driver uses: its Meta API DNAT happens on the host */
  chains(hwaddr: string): { input: string; forward: string; nat: string; prerouting: string } {
    const base = `${this.chainPrefix()}${macHex(hwaddr)}`;
    return { input: `${base}-I`, forward: `${base}-F`, nat: `${base}-N`, prerouting: `${base}-P` };
  }
}

async function cmd(program: string, args: string[]): Promise<string> {
  return (await run(program, args, { timeoutMs: 60_000 })).stdout;
}

async function tryCmd(program: string, args: string[]): Promise<boolean> {
  const r = await run(program, args, { timeoutMs: 60_000, allowFailure: true });
  return r.code === 0;
}

export async function netnsExists(name: string): Promise<boolean> {
  return pathExists(join(NETNS_DIR, name));
}

/**
 * Claim a free /30 of the pool for `netns`: claims are files named by slot in a host-wide directory
 * (several driver instances may share a host), created exclusively. A claim whose namespace is gone
 * and which is older than a grace period is stale and taken over.
 */
export async function claimSlot(pool: Pool, netns: string): Promise<number> {
  await mkdir(CLAIM_DIR, { recursive: true, mode: 0o700 });
  const count = slotCount(pool);
  const start = Number.parseInt(createHash('sha256').update(netns).digest('hex').slice(0, 8), 16) % count;
  for (let i = 0; i < count; i++) {
    const slot = (start + i) % count;
    const file = join(CLAIM_DIR, `${numToIp(pool.base + slot * 4)}`);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fh = await open(file, 'wx', 0o600);
        await fh.writeFile(netns);
        await fh.close();
        return slot;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const owner = await readFile(file, 'utf8').catch(() => '');
      const age =
        Date.now() -
        (await stat(file)
          .then((s) => s.mtimeMs)
          .catch(() => Date.now()));
      if (owner !== '' && (owner === netns || (!(await netnsExists(owner)) && age > CLAIM_GRACE_MS))) {
        await rm(file, { force: true });
        continue;
      }
      break;
    }
  }
  throw new DriverError('BACKEND', `no free /30 left in vm_network ${numToIp(pool.base)}/${pool.prefix} for a VM network namespace`);
}

export async function releaseClaims(netns: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(CLAIM_DIR);
  } catch {
    return;
  }
  for (const n of names) {
    const file = join(CLAIM_DIR, n);
    if ((await readFile(file, 'utf8').catch(() => '')) === netns) await rm(file, { force: true });
  }
}

/**
 * Create the VM's namespace, veth pair and addresses (rules come with applyRules once the Meta API
 * listener's port is known). On failure everything made here is removed again.
 */
export async function createVmNet(
  names: NetNames,
  hwaddr: string,
  pool: Pool,
  nat: boolean,
  metaAddress: string,
  opts: { loopback?: boolean } = {},
): Promise<VmNet> {
  const netns = names.netns(hwaddr);
  const hostIf = names.hostIf(hwaddr);
  const slot = await claimSlot(pool, netns);
  const hostAddr = numToIp(pool.base + slot * 4 + 1);
  const nsAddr = numToIp(pool.base + slot * 4 + 2);
  const net: VmNet = { netns, hostIf, hostAddr, nsAddr, nat };
  try {
    await cmd('ip', ['netns', 'add', netns]);
    await cmd('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
    await cmd('ip', ['addr', 'add', `${hostAddr}/30`, 'dev', hostIf]);
    await cmd('ip', ['link', 'set', hostIf, 'up']);
    const inNs = (args: string[]): Promise<string> => cmd('ip', ['netns', 'exec', netns, ...args]);
    // no IPv6 at all inside (slirp would otherwise map the guest's fec0::2 to ::1 and try v6 out)
    await inNs(['sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    await cmd('ip', ['-n', netns, 'addr', 'add', `${nsAddr}/30`, 'dev', 'eth0']);
    await cmd('ip', ['-n', netns, 'link', 'set', 'eth0', 'up']);
    // qemu: the loopback stays down (slirp's 10.0.2.2 → 127.0.0.1 leads nowhere); native: the sandbox's own lo
    if (opts.loopback === true) await cmd('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
    if (nat) {
      await cmd('ip', ['-n', netns, 'route', 'add', 'default', 'via', hostAddr]);
    } else {
      await cmd('ip', ['-n', netns, 'route', 'add', `${metaAddress}/32`, 'via', hostAddr]);
    }
    // veth is unicast by nature; refuse packets whose source does not belong to the namespace end
    await cmd('sysctl', ['-q', '-w', `net.ipv4.conf.${hostIf}.rp_filter=1`]);
  } catch (err) {
    await removeVmNet(names, hwaddr).catch(() => undefined);
    throw err;
  }
  return net;
}

function jumps(names: NetNames, hwaddr: string, net: VmNet): Array<{ table: string; chain: string; spec: string[] }> {
  const c = names.chains(hwaddr);
  return [
    { table: 'filter', chain: 'INPUT', spec: ['-i', net.hostIf, '-j', c.input] },
    { table: 'filter', chain: 'FORWARD', spec: ['-i', net.hostIf, '-j', c.forward] },
    { table: 'filter', chain: 'FORWARD', spec: ['-o', net.hostIf, '-j', c.forward] },
    { table: 'nat', chain: 'POSTROUTING', spec: ['-s', `${net.nsAddr}/32`, '-j', c.nat] },
  ];
}

async function ipt(args: string[]): Promise<void> {
  await cmd('iptables', ['-w', '30', ...args]);
}

async function iptTry(args: string[]): Promise<boolean> {
  return tryCmd('iptables', ['-w', '30', ...args]);
}

/**
 * Create or refresh (idempotent) the VM's host rules and the Meta API DNAT inside its namespace,
 * for a Meta API listener on `hostAddr:metaPort`.
 */
export async function applyRules(names: NetNames, hwaddr: string, net: VmNet, metaAddress: string, metaPort: number): Promise<void> {
  const c = names.chains(hwaddr);
  for (const [table, chain] of [
    ['filter', c.input],
    ['filter', c.forward],
    ['nat', c.nat],
  ] as const) {
    if (!(await iptTry(['-t', table, '-N', chain]))) await ipt(['-t', table, '-F', chain]);
  }
  // INPUT from the VM: replies, the VM's own Meta API listener, nothing else of the host
  await ipt(['-A', c.input, '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT']);
  await ipt(['-A', c.input, '-s', net.nsAddr, '-d', net.hostAddr, '-p', 'tcp', '--dport', String(metaPort), '-j', 'ACCEPT']);
  await ipt(['-A', c.input, '-j', 'DROP']);
  if (net.nat) {
    await ipt(['-A', c.forward, '-o', net.hostIf, '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT']);
    // not to other VMs or sandboxes, docker bridges or the sandbox itself from elsewhere
    for (const local of [`${QEMU_NET_PREFIXES.hostIf}+`, `${NATIVE_NET_PREFIXES.hostIf}+`, 'shl+', 'docker0', 'br-+'])
      await ipt(['-A', c.forward, '-i', net.hostIf, '-o', local, '-j', 'DROP']);
    await ipt(['-A', c.forward, '-i', net.hostIf, '-s', net.nsAddr, '-j', 'ACCEPT']);
    await ipt(['-t', 'nat', '-A', c.nat, '!', '-o', net.hostIf, '-j', 'MASQUERADE']);
  }
  await ipt(['-A', c.forward, '-j', 'DROP']);
  for (const j of jumps(names, hwaddr, net)) {
    if (!(await iptTry(['-t', j.table, '-C', j.chain, ...j.spec]))) await ipt(['-t', j.table, '-I', j.chain, '1', ...j.spec]);
  }
  // inside the namespace: the guest-visible Meta API address → this VM's listener
  const inNs = ['netns', 'exec', net.netns, 'iptables', '-w', '30', '-t', 'nat'];
  await cmd('ip', [...inNs, '-F', 'OUTPUT']);
  await cmd('ip', [
    ...inNs,
    '-A',
    'OUTPUT',
    '-d',
    metaAddress,
    '-p',
    'tcp',
    '--dport',
    '80',
    '-j',
    'DNAT',
    '--to-destination',
    `${net.hostAddr}:${metaPort}`,
  ]);
  if (net.nat) await ensureForwarding();
}

/** nat VMs need the host to forward IPv4 (Docker turns it on too). */
async function ensureForwarding(): Promise<void> {
  const path = '/proc/sys/net/ipv4/ip_forward';
  if ((await readFile(path, 'utf8').catch(() => '1')).trim() !== '1') await cmd('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
}

/** Delete every jump to the VM's chains (found by name, so no details of the VM are needed), then the chains. */
export async function removeRules(chains: string[]): Promise<void> {
  for (const table of ['filter', 'nat']) {
    const { stdout } = await run('iptables', ['-w', '30', '-t', table, '-S'], { timeoutMs: 60_000 });
    for (const line of stdout.split('\n')) {
      if (!line.startsWith('-A ') || line.includes('"')) continue;
      const words = line.split(' ');
      const target = words[words.indexOf('-j') + 1] ?? '';
      if (words.includes('-j') && chains.includes(target)) await iptTry(['-t', table, '-D', ...words.slice(1)]);
    }
    for (const chain of chains) {
      if (await iptTry(['-t', table, '-F', chain])) await iptTry(['-t', table, '-X', chain]);
    }
  }
}

/** Remove a VM's rules, namespace (its veth pair goes with it) and address claim. Idempotent. */
export async function removeVmNet(names: NetNames, hwaddr: string): Promise<void> {
  const c = names.chains(hwaddr);
  await removeRules([c.input, c.forward, c.nat, c.prerouting]);
  const netns = names.netns(hwaddr);
  if (await netnsExists(netns)) await cmd('ip', ['netns', 'delete', netns]);
  // a veth created while its namespace was being removed (crash in between) would be left
  if (await pathExists(`/sys/class/net/${names.hostIf(hwaddr)}`)) await tryCmd('ip', ['link', 'delete', names.hostIf(hwaddr)]);
  await releaseClaims(netns);
}

/** hwaddrs (as mac ids) that have a namespace or chains of this instance. */
export async function listVmNets(names: NetNames): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const n of await readdir(NETNS_DIR).catch(() => [] as string[])) {
    if (n.startsWith(names.netnsPrefix())) ids.add(n.slice(names.netnsPrefix().length));
  }
  for (const table of ['filter', 'nat']) {
    const { stdout } = await run('iptables', ['-w', '30', '-t', table, '-S'], { timeoutMs: 60_000, allowFailure: true });
    for (const m of stdout.matchAll(new RegExp(`^-N ${names.chainPrefix()}([0-9a-f]{12})-[IFNP]$`, 'gm'))) ids.add(m[1]!);
  }
  return new Set([...ids].filter((id) => /^[0-9a-f]{12}$/.test(id)));
}

/**
 * The command that starts `program` inside the VM's namespace: `nsenter` joins only the network
 * namespace (not a new mount namespace as `ip netns exec` would) and execs, so the pid is the program's.
 */
export function inNamespace(netns: string, program: string, args: string[]): { program: string; args: string[] } {
  return { program: 'nsenter', args: [`--net=${join(NETNS_DIR, netns)}`, '--', program, ...args] };
}
