import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NodeInfo } from '../../model/index.js';
import { nodeDetails, nodeTable } from './node.js';

const T = '2024-01-01T00:00:00.000Z';
const NODE: NodeInfo = {
  name: 'node-1',
  address: 'https://127.0.0.1:8001',
  capacity: { cpu: 8, ram: 16, cpu_overbook: 2, ram_overbook: 1 },
  used: { cpu: 3, ram: 10 },
  tags: { os: 'linux' },
  drivers: [
    {
      instance: 'test',
      driver: 'test',
      enabled: true,
      health: 'healthy',
      description: 'files',
      attributes: {},
      capacity: { cpu: 4, ram: 6 },
    },
    { instance: 'qemu', driver: 'qemu', enabled: false, health: 'undetected', description: 'no qemu-system', attributes: {} },
  ],
  maintenance: false,
  alive: true,
  heartbeat_at: T,
  started_at: T,
};

describe('node views', () => {
  it('node show: used and free of the overbooked capacity; driver capacity labelled as totals', () => {
    const text = nodeDetails(NODE, Date.parse(T));
    assert.match(text, /^cpu used\s+3\/16 \(8×2\)$/m);
    assert.match(text, /^cpu free\s+13$/m);
    assert.match(text, /^ram used \(GB\)\s+10\/16$/m);
    assert.match(text, /^ram free \(GB\)\s+6$/m);
    assert.match(text, /^INSTANCE\s+DRIVER\s+ENABLED\s+HEALTH\s+TOTAL CPU\s+TOTAL RAM GB\s+DESCRIPTION$/m);
    assert.doesNotMatch(text, /FREE CPU|FREE RAM/);
    assert.match(text, /^test\s+test\s+yes\s+healthy\s+4\s+6\s+files$/m);
    assert.match(text, /^qemu\s+qemu\s+no\s+undetected\s+-\s+-\s+no qemu-system$/m);
  });

  it('node list: cpu and ram columns say they are used/total', () => {
    const text = nodeTable([NODE], Date.parse(T));
    assert.match(text, /^NAME\s+ADDRESS\s+STATE\s+CPU USED\/TOTAL\s+RAM GB USED\/TOTAL\s+DRIVERS\s+HEARTBEAT$/m);
    assert.match(text, /^node-1\s+\S+\s+up\s+3\/16 \(8×2\)\s+10\/16\s+test\s/m);
  });
});
