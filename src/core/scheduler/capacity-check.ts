import type { LabelDefinitionRecord, NodeRow } from '../../store/store.js';
import { definitionFor, type NodeOffer } from './placement.js';

/** What another node offers, from its row (effective totals, enabled driver instances). */
export function offerOfNode(n: NodeRow): NodeOffer {
  const drivers = new Map<string, { cpu: number; ram: number } | undefined>();
  for (const d of n.drivers) if (d.enabled) drivers.set(d.instance, d.capacity);
  return { node: n.name, cpu: n.cpu * n.cpu_overbook, ram: n.ram * n.ram_overbook, drivers };
}

/**
 * null if some node could ever hold one of the definitions (with nothing else running);
 * otherwise a plain reason saying what is needed and what the biggest node has.
 */
export function unsatisfiableReason(definitions: readonly LabelDefinitionRecord[], offers: readonly NodeOffer[]): string | null {
  for (const o of offers) if (definitionFor({ definitions, definition_index: 0 }, o) >= 0) return null;
  const needs = definitions
    .map((d, i) => {
      const r = d.requirements as { cpu?: unknown; ram?: unknown };
      return `definition ${i} needs ${d.driver} with cpu ${String(r.cpu)}, ram ${String(r.ram)} GB`;
    })
    .join('; ');
  const nodes = offers
    .map((o) => {
      const drivers = [...o.drivers.entries()].map(([k, c]) => (c ? `${k} (cpu ${c.cpu}, ram ${c.ram})` : k)).join(', ');
      return `${o.node}: cpu ${o.cpu}, ram ${o.ram} GB, drivers ${drivers || 'none'}`;
    })
    .join('; ');
  return `no node can ever hold this: ${needs}. Nodes: ${nodes || 'none alive'}`;
}
