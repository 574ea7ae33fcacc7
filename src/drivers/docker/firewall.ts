import { createHash } from 'node:crypto';
import type { DriverLogger } from '../../contract/index.js';
import { CommandError, runCommand } from '../shared/run-command.js';

/** What the host-only rules protect: traffic entering the host from `bridge`. */
export interface HostOnlyRules {
  /** docker network name (rules are named after it) */
  network: string;
  bridge: string;
  gateway: string;
  metaPort: number;
}

const TOOLS = ['iptables', 'ip6tables'] as const;
type Tool = (typeof TOOLS)[number];

/** Short stable id for chain names (iptables chain names are ≤ 28 chars). */
export function ruleId(network: string): string {
  return createHash('sha1').update(network).digest('hex').slice(0, 8);
}

/** The bridge interface name Shoal gives a network (≤ 15 chars, stable per network name). */
export function bridgeName(network: string): string {
  return `shl${createHash('sha1').update(`bridge:${network}`).digest('hex').slice(0, 10)}`;
}

export function chainNames(network: string): { input: string; forward: string } {
  const id = ruleId(network);
  return { input: `SHOAL-${id}-IN`, forward: `SHOAL-${id}-FW` };
}

/**
 * Driver-owned iptables/ip6tables chains isolating a host-only network: from its bridge, the host
 * accepts only the Meta API port on the gateway address (plus replies to connections the host
 * opened), and nothing is forwarded to or from the bridge (not to other networks, not between
 * containers, not out).
 */
export class Firewall {
  readonly #log: DriverLogger;

  constructor(log: DriverLogger) {
    this.#log = log;
  }

  async #run(tool: Tool, args: string[]): Promise<void> {
    await runCommand(tool, ['-w', '30', ...args], { timeoutMs: 60_000 });
  }

  async #try(tool: Tool, args: string[]): Promise<boolean> {
    try {
      await this.#run(tool, args);
      return true;
    } catch (err) {
      if (err instanceof CommandError) return false;
      throw err;
    }
  }

  /** Jumps from the built-in chains into ours (the ones to add and remove). */
  #jumps(r: { bridge: string; network: string }): Array<{ chain: string; spec: string[] }> {
    const c = chainNames(r.network);
    return [
      { chain: 'INPUT', spec: ['-i', r.bridge, '-j', c.input] },
      { chain: 'FORWARD', spec: ['-i', r.bridge, '-j', c.forward] },
      { chain: 'FORWARD', spec: ['-o', r.bridge, '-j', c.forward] },
    ];
  }

  /** Create or refresh the rules (idempotent). */
  async protectHostOnly(r: HostOnlyRules): Promise<void> {
    const c = chainNames(r.network);
    for (const tool of TOOLS) {
      for (const chain of [c.input, c.forward]) {
        if (!(await this.#try(tool, ['-N', chain]))) await this.#run(tool, ['-F', chain]);
      }
      const input: string[][] = [['-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT']];
      if (tool === 'iptables') input.push(['-d', r.gateway, '-p', 'tcp', '--dport', String(r.metaPort), '-j', 'ACCEPT']);
      input.push(['-j', 'DROP']);
      for (const rule of input) await this.#run(tool, ['-A', c.input, ...rule]);
      await this.#run(tool, ['-A', c.forward, '-j', 'DROP']);
      for (const j of this.#jumps(r)) {
        if (!(await this.#try(tool, ['-C', j.chain, ...j.spec]))) await this.#run(tool, ['-I', j.chain, '1', ...j.spec]);
      }
    }
    this.#log.debug({ network: r.network, bridge: r.bridge }, 'host-only firewall rules in place');
  }

  /**
   * Create or refresh (idempotent) the rules of a `nat` network: containers reach the outside
   * (Docker's own forwarding and masquerading), but from the bridge the host itself accepts only the
   * Meta API port on the gateway address (plus replies): not its other addresses, not the node's
   * API, not anything else listening on the host.
   */
  async protectNat(r: HostOnlyRules): Promise<void> {
    const c = chainNames(r.network);
    for (const tool of TOOLS) {
      if (!(await this.#try(tool, ['-N', c.input]))) await this.#run(tool, ['-F', c.input]);
      await this.#run(tool, ['-A', c.input, '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT']);
      if (tool === 'iptables')
        await this.#run(tool, ['-A', c.input, '-d', r.gateway, '-p', 'tcp', '--dport', String(r.metaPort), '-j', 'ACCEPT']);
      await this.#run(tool, ['-A', c.input, '-j', 'DROP']);
      const j = this.#jumps(r)[0]!;
      if (!(await this.#try(tool, ['-C', j.chain, ...j.spec]))) await this.#run(tool, ['-I', j.chain, '1', ...j.spec]);
    }
    this.#log.debug({ network: r.network, bridge: r.bridge }, 'nat firewall rules in place');
  }

  /** Whether this network's chains exist (IPv4). */
  async exists(network: string): Promise<boolean> {
    return this.#try('iptables', ['-S', chainNames(network).input]);
  }

  /** Remove the rules of a network, host-only or nat (idempotent: missing rules and chains are fine). */
  async remove(r: { network: string; bridge: string }): Promise<void> {
    const c = chainNames(r.network);
    for (const tool of TOOLS) {
      for (const j of this.#jumps(r)) {
        for (let i = 0; i < 8 && (await this.#try(tool, ['-D', j.chain, ...j.spec])); i++);
      }
      for (const chain of [c.input, c.forward]) {
        if (await this.#try(tool, ['-F', chain])) await this.#try(tool, ['-X', chain]);
      }
    }
    this.#log.debug({ network: r.network }, 'host-only firewall rules removed');
  }

  /**
   * Delete rules in any chain (Docker's included) that name one of these bridges as in/out
   * interface. Used only for bridges whose network no longer exists: Docker leaves its isolation
   * rules behind when a network create is interrupted (e.g. the node was killed mid-request).
   */
  async removeStale(bridges: string[]): Promise<number> {
    let removed = 0;
    for (const tool of TOOLS) {
      const { stdout } = await runCommand(tool, ['-w', '30', '-S'], { timeoutMs: 60_000 });
      for (const line of stdout.split('\n')) {
        if (!line.startsWith('-A ') || line.includes('"')) continue;
        const words = line.split(' ');
        const stale = words.some((w, i) => (w === '-i' || w === '-o') && bridges.includes(words[i + 1] ?? ''));
        if (!stale) continue;
        if (await this.#try(tool, ['-D', ...words.slice(1)])) removed++;
      }
    }
    if (removed > 0) this.#log.warn({ bridges, removed }, 'removed stale rules of vanished networks');
    return removed;
  }

  /** Every rule line (iptables -S and ip6tables -S) that mentions this network's chains or bridge. */
  static async listRules(r: { network: string; bridge: string }): Promise<string[]> {
    const c = chainNames(r.network);
    const out: string[] = [];
    for (const tool of TOOLS) {
      const { stdout } = await runCommand(tool, ['-w', '30', '-S']);
      for (const line of stdout.split('\n')) {
        if (line.includes(c.input) || line.includes(c.forward) || line.includes(r.bridge)) out.push(`${tool}: ${line}`);
      }
    }
    return out;
  }
}
