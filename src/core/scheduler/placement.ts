import type { ClaimCandidate, ClaimChoice, ClaimPick, LabelDefinitionRecord, NodeUsage } from '../../store/store.js';

/** What this node offers: effective totals (with overbook) and its enabled driver instances. */
export interface NodeOffer {
  node: string;
  cpu: number;
  ram: number;
  /** enabled instances; capacity undefined = limited by the node only */
  drivers: ReadonlyMap<string, { cpu: number; ram: number } | undefined>;
}

function need(def: LabelDefinitionRecord): { cpu: number; ram: number } {
  const r = def.requirements as { cpu?: unknown; ram?: unknown };
  return { cpu: Number(r.cpu) || 0, ram: Number(r.ram) || 0 };
}

/**
 * The definition this node would use for an application: the first one, starting at the
 * application's definition_index and wrapping around, whose driver instance runs here and whose
 * requirements fit this node's totals at all. -1 = this node can never run it.
 */
export function definitionFor(c: Pick<ClaimCandidate, 'definitions' | 'definition_index'>, offer: NodeOffer): number {
  const n = c.definitions.length;
  for (let k = 0; k < n; k++) {
    const idx = (((c.definition_index + k) % n) + n) % n;
    const def = c.definitions[idx]!;
    if (!offer.drivers.has(def.driver)) continue;
    const { cpu, ram } = need(def);
    if (cpu > offer.cpu || ram > offer.ram) continue;
    const cap = offer.drivers.get(def.driver);
    if (cap && (cpu > cap.cpu || ram > cap.ram)) continue;
    return idx;
  }
  return -1;
}

/**
 * Picks, in FIFO order, the applications that fit what the node holds (`usage`, updated in place).
 * Strict FIFO per pool: when the oldest application this node could run does not fit the node
 * now, nothing younger is taken (big requests are never starved by small ones); when it only
 * misses its driver instance's capacity, that instance takes nothing younger, others go on.
 * Applications this node can never run are passed over for other nodes.
 */
export function choosePlacement(candidates: readonly ClaimCandidate[], usage: NodeUsage, offer: NodeOffer): ClaimChoice {
  const picks: ClaimPick[] = [];
  const blocked = new Set<string>();
  for (const c of candidates) {
    const idx = definitionFor(c, offer);
    if (idx < 0) continue;
    const def = c.definitions[idx]!;
    if (blocked.has(def.driver)) continue;
    const { cpu, ram } = need(def);
    if (usage.cpu + cpu > offer.cpu || usage.ram + ram > offer.ram) return { picks, more: false };
    const cap = offer.drivers.get(def.driver);
    const du = usage.drivers.get(def.driver) ?? { cpu: 0, ram: 0 };
    if (cap && (du.cpu + cpu > cap.cpu || du.ram + ram > cap.ram)) {
      blocked.add(def.driver);
      if (blocked.size >= offer.drivers.size) return { picks, more: false };
      continue;
    }
    usage.cpu += cpu;
    usage.ram += ram;
    usage.drivers.set(def.driver, { cpu: du.cpu + cpu, ram: du.ram + ram });
    picks.push({
      uid: c.uid,
      driver: def.driver,
      definition_index: idx,
      cpu,
      ram,
      description: `elected by node ${offer.node}: definition ${idx} (${def.driver}, cpu ${cpu}, ram ${ram})`,
    });
  }
  return { picks, more: true };
}
