/**
 * A sandbox's network, made with as few processes as possible (a sandbox starts in milliseconds):
 * the same objects and names as ../shared/host-net.ts — a namespace, a veth pair, a /30 claim,
 * the instance's per-sandbox iptables chains — but two `ip -batch` runs and one
 * `iptables-restore --noflush` transaction instead of one process per object, and the Meta API
 * DNAT in the host's nat PREROUTING (chain `…-P`) instead of inside the namespace.
 *
 * - The namespace has its loopback, `eth0` with the /30's second address, and a route to the Meta
 *   API address only (host-only) or a default route (nat), both via the host end.
 * - The host end refuses spoofed sources (rp_filter) and has no IPv6, so IPv6 reaches nothing.
 * - INPUT from the veth: replies, and the sandbox's own Meta API listener (after the DNAT of
 *   meta_address:80 to it) — no other host address or port. FORWARD: nothing (host-only), or out
 *   to anything but other sandboxes, VMs and local bridges with MASQUERADE (nat).
 */
import { writeFile } from 'node:fs/promises';
import { pathExists } from '../../lib/fs.js';
import { run } from '../shared/exec.js';
import { claimSlot, netnsExists, numToIp, releaseClaims, removeRules, type NetNames, type Pool, type VmNet } from '../shared/host-net.js';

/** links a nat sandbox must never forward to (other sandboxes, VMs, docker bridges) */
const LOCAL_LINKS = ['shn+', 'shq+', 'shl+', 'docker0', 'br-+'];

async function ipBatch(lines: string[], netns?: string): Promise<void> {
  await run('ip', [...(netns ? ['-n', netns] : []), '-batch', '-'], { input: `${lines.join('\n')}\n`, timeoutMs: 60_000 });
}

async function restore(text: string, allowFailure = false): Promise<boolean> {
  const r = await run('iptables-restore', ['-w', '30', '--noflush'], { input: text, timeoutMs: 60_000, allowFailure });
  return r.code === 0;
}

/** Create the namespace and its link; on failure everything made here is removed again. */
export async function createSandboxNet(names: NetNames, hwaddr: string, pool: Pool, nat: boolean, metaAddress: string): Promise<VmNet> {
  const netns = names.netns(hwaddr);
  const hostIf = names.hostIf(hwaddr);
  const slot = await claimSlot(pool, netns);
  const hostAddr = numToIp(pool.base + slot * 4 + 1);
  const nsAddr = numToIp(pool.base + slot * 4 + 2);
  const net: VmNet = { netns, hostIf, hostAddr, nsAddr, nat };
  try {
    await ipBatch([
      `netns add ${netns}`,
      `link add ${hostIf} type veth peer name eth0 netns ${netns}`,
      `addr add ${hostAddr}/30 dev ${hostIf}`,
    ]);
    await writeFile(`/proc/sys/net/ipv4/conf/${hostIf}/rp_filter`, '1');
    await writeFile(`/proc/sys/net/ipv6/conf/${hostIf}/disable_ipv6`, '1');
    await ipBatch([`link set ${hostIf} up`]);
    await ipBatch(
      [
        `addr add ${nsAddr}/30 dev eth0`,
        'link set eth0 up',
        'link set lo up',
        nat ? `route add default via ${hostAddr}` : `route add ${metaAddress}/32 via ${hostAddr}`,
      ],
      netns,
    );
  } catch (err) {
    await removeSandboxNet(names, hwaddr, net).catch(() => undefined);
    throw err;
  }
  return net;
}

function jumpLines(names: NetNames, hwaddr: string, net: VmNet): { filter: string[]; nat: string[] } {
  const c = names.chains(hwaddr);
  return {
    filter: [
      `INPUT -i ${net.hostIf} -j ${c.input}`,
      `FORWARD -i ${net.hostIf} -j ${c.forward}`,
      `FORWARD -o ${net.hostIf} -j ${c.forward}`,
    ],
    nat: [`PREROUTING -i ${net.hostIf} -j ${c.prerouting}`, `POSTROUTING -s ${net.nsAddr}/32 -j ${c.nat}`],
  };
}

/** The sandbox's chains and jumps, in one transaction, for its Meta API listener on hostAddr:metaPort. */
export async function applySandboxRules(names: NetNames, hwaddr: string, net: VmNet, metaAddress: string, metaPort: number): Promise<void> {
  const c = names.chains(hwaddr);
  const j = jumpLines(names, hwaddr, net);
  const filter = [
    '*filter',
    `:${c.input} - [0:0]`,
    `:${c.forward} - [0:0]`,
    `-A ${c.input} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`,
    `-A ${c.input} -s ${net.nsAddr}/32 -d ${net.hostAddr}/32 -p tcp -m tcp --dport ${metaPort} -j ACCEPT`,
    `-A ${c.input} -j DROP`,
  ];
  if (net.nat) {
    filter.push(`-A ${c.forward} -o ${net.hostIf} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`);
    for (const l of LOCAL_LINKS) filter.push(`-A ${c.forward} -i ${net.hostIf} -o ${l} -j DROP`);
    filter.push(`-A ${c.forward} -i ${net.hostIf} -s ${net.nsAddr}/32 -j ACCEPT`);
  }
  filter.push(`-A ${c.forward} -j DROP`, ...j.filter.map((l) => `-I ${l}`), 'COMMIT');
  const natTable = [
    '*nat',
    `:${c.prerouting} - [0:0]`,
    `:${c.nat} - [0:0]`,
    `-A ${c.prerouting} -d ${metaAddress}/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination ${net.hostAddr}:${metaPort}`,
    ...(net.nat ? [`-A ${c.nat} ! -o ${net.hostIf} -j MASQUERADE`] : []),
    ...j.nat.map((l) => `-I ${l}`),
    'COMMIT',
  ];
  await restore([...filter, ...natTable, ''].join('\n'));
  if (net.nat && (await run('sysctl', ['-n', 'net.ipv4.ip_forward'], { allowFailure: true })).stdout.trim() !== '1') {
    await run('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
  }
}

/** Remove the sandbox's chains and the jumps to them (one transaction when all are there, else found by name). */
export async function removeSandboxRules(names: NetNames, hwaddr: string, net: VmNet | undefined): Promise<void> {
  const c = names.chains(hwaddr);
  if (net) {
    const j = jumpLines(names, hwaddr, net);
    const text = [
      '*filter',
      ...j.filter.map((l) => `-D ${l}`),
      `-F ${c.input}`,
      `-X ${c.input}`,
      `-F ${c.forward}`,
      `-X ${c.forward}`,
      'COMMIT',
      '*nat',
      ...j.nat.map((l) => `-D ${l}`),
      `-F ${c.prerouting}`,
      `-X ${c.prerouting}`,
      `-F ${c.nat}`,
      `-X ${c.nat}`,
      'COMMIT',
      '',
    ].join('\n');
    if (await restore(text, true)) return;
  }
  await removeRules([c.input, c.forward, c.nat, c.prerouting]);
}

/** Remove the sandbox's rules, namespace (the veth goes with it) and address claim. Idempotent. */
export async function removeSandboxNet(names: NetNames, hwaddr: string, net: VmNet | undefined): Promise<void> {
  await removeSandboxRules(names, hwaddr, net);
  const netns = names.netns(hwaddr);
  if (await netnsExists(netns)) await run('ip', ['netns', 'delete', netns], { timeoutMs: 60_000 });
  // a veth made while its namespace was being removed (crash in between) would be left
  const hostIf = names.hostIf(hwaddr);
  if (await pathExists(`/sys/class/net/${hostIf}`)) await run('ip', ['link', 'delete', hostIf], { timeoutMs: 60_000, allowFailure: true });
  await releaseClaims(netns);
}
