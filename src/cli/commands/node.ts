import type { Command } from 'commander';
import type { DriverInstanceInfo, NodeInfo, StoredItem } from '../../model/index.js';
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

function size(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? String(v) : v.toFixed(1)} ${units[i]!}`;
}

export function storedTable(items: readonly StoredItem[], now = Date.now()): string {
  return formatTable(
    ['driver', 'id', 'kind', 'size', 'last used', 'in use', 'what'],
    items.map((i) => [
      i.driver,
      i.id,
      i.kind,
      size(i.bytes),
      formatAge(i.last_used || null, now),
      i.in_use ? 'yes' : 'no',
      display(i.name),
    ]),
  );
}

/** `node images` / `node disks` [NODE] and their `rm ID` (admin). */
function registerStored(node: Command, io: CliIo, kind: 'images' | 'disks', what: string): void {
  const cmd = node
    .command(kind)
    .description(`admin: ${what} this node keeps (size, last use, in use); "rm ID" removes one`)
    .argument('[node]', 'the node (it must be the one you talk to)', 'this')
    .action(async (name: string, _flags: unknown, c: Command) => {
      const client = await connect(io, globals(c));
      const items = await client.listStored(name, kind);
      emit(io, c, { json: { items }, items, human: () => storedTable(items) });
    });
  cmd
    .command('rm')
    .description(`admin: remove one of the ${what} (refused while a resource uses it)`)
    .argument('<id>', 'its id as listed')
    .option('--driver <instance>', 'the driver instance, when several list that id')
    .option('--node <name>', 'the node (it must be the one you talk to)', 'this')
    .action(async (id: string, flags: { driver?: string; node: string }, c: Command) => {
      const client = await connect(io, globals(c));
      await client.removeStored(flags.node, kind, id, flags.driver);
      emit(io, c, { json: { removed: id }, human: () => `removed ${id}\n` });
    });
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

  registerStored(node, io, 'images', 'cached images');
  registerStored(node, io, 'disks', 'kept disks (reused disks) and snapshots');
}
