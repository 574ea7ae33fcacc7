import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isMac, macFromHex, macHex, randomMac } from './mac.js';

describe('MAC addresses', () => {
  it('random ones are locally administered unicast, lower-case, never 02:42:…, and differ', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const m = randomMac();
      assert.ok(isMac(m), m);
      const first = parseInt(m.slice(0, 2), 16);
      assert.equal(first & 0x03, 0x02, `${m}: locally administered, unicast`);
      assert.ok(!m.startsWith('02:42:'), m);
      seen.add(m);
    }
    assert.equal(seen.size, 2000);
  });
  it('round-trips through the hex id and refuses what is not one', () => {
    assert.equal(macHex('02:ab:cd:ef:01:23'), '02abcdef0123');
    assert.equal(macFromHex('02abcdef0123'), '02:ab:cd:ef:01:23');
    assert.equal(macFromHex('02ABCDEF0123'), undefined);
    assert.equal(macFromHex('02abcdef01'), undefined);
    assert.equal(isMac('02:AB:cd:ef:01:23'), false);
  });
});
