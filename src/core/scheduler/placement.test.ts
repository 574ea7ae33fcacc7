import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClaimCandidate, LabelDefinitionRecord, NodeUsage } from '../../store/store.js';
import { choosePlacement, definitionFor, type NodeOffer } from './placement.js';

const d = (driver: string, cpu: number, ram = 1): LabelDefinitionRecord => ({ driver, options: {}, requirements: { cpu, ram } });
let n = 0;
const cand = (defs: LabelDefinitionRecord[], definition_index = 0): ClaimCandidate => ({
  uid: `app-${++n}`,
  seq: n,
  label_uid: 'l',
  definitions: defs,
  definition_index,
  attempts: 0,
  owner: 'u',
});
const empty = (): NodeUsage => ({ cpu: 0, ram: 0, drivers: new Map() });
const offer = (drivers: Record<string, { cpu: number; ram: number } | undefined>, cpu = 8, ram = 16): NodeOffer => ({
  node: 'n1',
  cpu,
  ram,
  drivers: new Map(Object.entries(drivers)),
});

test('placement: first definition whose driver runs here and fits the totals, wrapping from definition_index', () => {
  const o = offer({ test: undefined, docker: { cpu: 2, ram: 4 } });
  assert.equal(definitionFor(cand([d('qemu', 1), d('test', 1)]), o), 1, 'qemu is not here');
  assert.equal(definitionFor(cand([d('docker', 4), d('test', 2)]), o), 1, 'docker instance too small for 4 cpu');
  assert.equal(definitionFor(cand([d('test', 99)]), o), -1, 'bigger than the node');
  assert.equal(definitionFor(cand([d('test', 1), d('docker', 1)], 1), o), 1, 'starts at definition_index');
  assert.equal(definitionFor(cand([d('test', 1), d('qemu', 1)], 1), o), 0, 'wraps around');
});

test('placement: FIFO, node capacity, strict per pool', () => {
  const o = offer({ test: undefined }, 4, 16);
  const cs = [cand([d('test', 2)]), cand([d('test', 3)]), cand([d('test', 1)])];
  const u = empty();
  const ch = choosePlacement(cs, u, o);
  assert.deepEqual(
    ch.picks.map((p) => p.uid),
    [cs[0]!.uid],
    'the 3-cpu app does not fit now, and the 1-cpu one behind it does not jump the queue',
  );
  assert.equal(ch.more, false);
  assert.equal(u.cpu, 2);
  assert.deepEqual(u.drivers.get('test'), { cpu: 2, ram: 1 });
});

test('placement: a full driver instance blocks only itself; apps for missing drivers are passed over', () => {
  const o = offer({ test: undefined, docker: { cpu: 1, ram: 8 } }, 8, 16);
  const cs = [cand([d('docker', 1)]), cand([d('docker', 1)]), cand([d('qemu', 1)]), cand([d('test', 1)]), cand([d('docker', 1)])];
  const ch = choosePlacement(cs, empty(), o);
  assert.deepEqual(
    ch.picks.map((p) => p.uid),
    [cs[0]!.uid, cs[3]!.uid],
  );
  assert.equal(ch.more, true);
  assert.match(ch.picks[0]!.description, /definition 0 \(docker/);
});

test('placement: overbooked totals and existing usage', () => {
  const o = offer({ test: undefined }, 4, 4);
  const u: NodeUsage = { cpu: 3, ram: 1, drivers: new Map([['test', { cpu: 3, ram: 1 }]]) };
  const ch = choosePlacement([cand([d('test', 1)]), cand([d('test', 1)])], u, o);
  assert.equal(ch.picks.length, 1);
  assert.equal(u.cpu, 4);
});
