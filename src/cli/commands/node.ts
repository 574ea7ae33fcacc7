import type { Command } from 'commander';
import type { DriverInstanceInfo, NodeInfo } from '../../model/index.js';
import { connect, emit, globals } from '../context.js';
import { UsageError } from '../errors.js';
import type { CliIo } from '../io.js';
import { display, formatAge, formatKeyValues, formatTable, formatTime } from '../output.js';

function usage(used: number, total: number, overbook: number): string {
  const cap = total * overbook;
  return `${round(used)}/${round(cap)}${overbook !== 1 ? ` (${round(total)}×${round(overbook)})` : ''}`;
}

/** What is left of the (overbooked) capacity; never below 0. */
function free(used: number, total: number, overbook: number): string {
  return round(Math.max(0, total * overbook - used));
}

/** up, maintenance, dead (silent past the dead-node mark) or lost (its work was ended) */
function state(n: NodeInfo, long: boolean): string {
  if (n.lost_at !== undefined) return long ? `lost at ${n.lost_at} (its work was ended)` : 'lost';
  if (!n.alive) return 'dead';
  return n.maintenance ? (long ? 'maintenance (takes no new work)' : 'maintenance') : 'up';
}

function round(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

export function nodeTable(nodes: readonly NodeInfo[], now = Date.now()): string {
  return formatTable(
    ['name', 'address', 'state', 'cpu used/total', 'ram gb used/total', 'drivers', 'heartbeat'],
    nodes.map((n) => [
      n.name,
      n.address,
      state(n, false),
      usage(n.used.cpu, n.capacity.cpu, n.capacity.cpu_overbook),
      usage(n.used.ram, n.capacity.ram, n.capacity.ram_overbook),
      n.drivers
        .filter((d) => d.enabled)
        .map((d) => d.instance)
        .join(',') || '-',
      formatAge(n.heartbeat_at, now),
    ]),
  );
}

/** The drivers of a node; CPU/RAM are each instance's totals (the API reports no per-instance use). */
export function driverTable(drivers: readonly DriverInstanceInfo[]): string {
  return formatTable(
    ['instance', 'driver', 'enabled', 'health', 'total cpu', 'total ram gb', 'description'],
    drivers.map((d) => [
      d.instance,
      d.driver,
      d.enabled ? 'yes' : 'no',
      d.health,
      d.capacity ? round(d.capacity.cpu) : '-',
      d.capacity ? round(d.capacity.ram) : '-',
      display(d.description),
    ]),
  );
}

export function nodeDetails(n: NodeInfo, now = Date.now()): string {
  return (
    formatKeyValues([
      ['name', n.name],
      ['address', n.address],
      ['state', state(n, true)],
      ['cpu used', usage(n.used.cpu, n.capacity.cpu, n.capacity.cpu_overbook)],
      ['cpu free', free(n.used.cpu, n.capacity.cpu, n.capacity.cpu_overbook)],
      ['ram used (GB)', usage(n.used.ram, n.capacity.ram, n.capacity.ram_overbook)],
      ['ram free (GB)', free(n.used.ram, n.capacity.ram, n.capacity.ram_overbook)],
      [
        'tags',
        Object.entries(n.tags)
          .map(([k, v]) => `${k}=${v}`)
          .join(' '),
      ],
      ['started', formatTime(n.started_at, now)],
      ['heartbeat', formatTime(n.heartbeat_at, now)],
      ...(n.ssh_gate ? ([['ssh gate', `${n.ssh_gate.address} (host key ${n.ssh_gate.fingerprint})`]] as Array<[string, string]>) : []),
    ]) + `\n${driverTable(n.drivers)}`
  );
}

export function registerNode(program: Command, io: CliIo): void {
  const node = program.command('node').description('nodes of the pool');

  node
    .command('list')
    .description('every node: state, capacity used, enabled drivers')
    .action(async (_flags: unknown, cmd: Command) => {
      const client = await connect(io, globals(cmd));
      const items = await client.listNodes();
      emit(io, cmd, { json: { items }, items, human: () => nodeTable(items) });
    });

  node
    .command('show')
    .description('this node (the one you talk to): capacity, tags, drivers and why a driver is disabled')
    .action(async (_flags: unknown, cmd: Command) => {
      const client = await connect(io, globals(cmd));
      const n = await client.thisNode();
      emit(io, cmd, { json: n, human: () => nodeDetails(n) });
    });

  node
    .command('maintenance')
    .description('maintenance mode of this node: "on" stops it taking new work (running resources stay), "off" resumes')
    .argument('<on|off>', 'on or off')
    .action(async (mode: string, _flags: unknown, cmd: Command) => {
      if (mode !== 'on' && mode !== 'off') throw new UsageError(`node maintenance "${mode}": expected on or off`);
      const client = await connect(io, globals(cmd));
      const n = await client.setMaintenance(mode === 'on');
      emit(io, cmd, { json: n, human: () => `node ${n.name}: maintenance ${n.maintenance ? 'on (takes no new work)' : 'off'}\n` });
    });

  node
    .command('forget')
    .description(
      'admin: a node whose host is gone for good — end its applications (ERROR / DEALLOCATED, "node NAME lost at …") and delete it from the list; refused while it still answers',
    )
    .argument('<name>', 'the node to forget')
    .action(async (name: string, _flags: unknown, cmd: Command) => {
      const client = await connect(io, globals(cmd));
      const r = await client.forgetNode(name);
      emit(io, cmd, {
        json: r,
        human: () =>
          `node ${r.name} forgotten at ${r.lost_at}: ${r.failed} allocated → ERROR, ${r.deallocated} deallocating → DEALLOCATED, ${r.requeued} back in the queue\n`,
      });
    });
}
