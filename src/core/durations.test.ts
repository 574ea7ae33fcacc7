import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDuration, parseOptionalDuration } from './durations.js';
import { CoreError } from './errors.js';

test('durations: units, bare seconds, and errors that name the field', () => {
  assert.equal(parseDuration('90s', 'lifetime'), 90_000);
  assert.equal(parseDuration('30m', 'lifetime'), 1_800_000);
  assert.equal(parseDuration('2h', 'lifetime'), 7_200_000);
  assert.equal(parseDuration('1d', 'lifetime'), 86_400_000);
  assert.equal(parseDuration('250ms', 'lifetime'), 250);
  assert.equal(parseDuration('45', 'lifetime'), 45_000);
  assert.equal(parseOptionalDuration(undefined, 'x'), null);
  assert.equal(parseOptionalDuration(null, 'x'), null);
  for (const bad of ['', '2 hours', '-1s', '1.5h', 'h', '0s', '99999999999d']) {
    assert.throws(
      () => parseDuration(bad, 'wait_timeout'),
      (e: unknown) => e instanceof CoreError && e.code === 'INVALID' && e.message.startsWith('wait_timeout:'),
      bad,
    );
  }
});
