import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DURATION_PATTERN, DurationError, MAX_DURATION_MS, formatDuration, parseDuration } from './durations.js';

describe('durations', () => {
  it('reads every unit and a bare number as seconds', () => {
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('90s'), 90_000);
    assert.equal(parseDuration('30m'), 1_800_000);
    assert.equal(parseDuration('2h'), 7_200_000);
    assert.equal(parseDuration('1d'), 86_400_000);
    assert.equal(parseDuration('45'), 45_000);
    assert.equal(parseDuration(' 10m '), 600_000, 'surrounding blanks are ignored');
    assert.equal(parseDuration('3650d'), MAX_DURATION_MS);
  });

  it('refuses other text, zero (unless allowed) and more than 10 years, saying which', () => {
    const problem = (value: string, opts?: { allowZero?: boolean }): string => {
      try {
        parseDuration(value, opts);
      } catch (e) {
        assert.ok(e instanceof DurationError);
        assert.ok(e.message.includes(`"${value}"`), e.message);
        return e.problem;
      }
      return 'accepted';
    };
    for (const bad of ['', '2 hours', '-1s', '1.5h', 'h', '10w', '1e3', '0x10']) assert.equal(problem(bad), 'syntax', bad);
    assert.equal(problem('0s'), 'zero');
    assert.equal(problem('0'), 'zero');
    assert.equal(parseDuration('0s', { allowZero: true }), 0);
    assert.equal(problem('3651d'), 'too-long');
    assert.equal(problem('99999999999999999999d'), 'too-long');
  });

  it('the schema pattern accepts exactly the texts the parser reads (without blanks)', () => {
    const re = new RegExp(DURATION_PATTERN);
    for (const ok of ['500ms', '90s', '30m', '2h', '1d', '45']) assert.ok(re.test(ok), ok);
    for (const bad of ['2 hours', '1.5h', 'h', '10w', '-1s', '']) assert.ok(!re.test(bad), bad);
  });

  it('formats for people', () => {
    assert.equal(formatDuration(850), '850ms');
    assert.equal(formatDuration(4200), '4.2s');
    assert.equal(formatDuration(185_000), '3m05s');
    assert.equal(formatDuration(7_800_000), '2h10m');
  });
});
