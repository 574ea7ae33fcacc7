import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageError } from './errors.js';
import { checkDuration, formatDuration, parseDurationMs, parseLabelRef, parseMetadataArgs, parsePositiveInt } from './parse-args.js';

function usage(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof UsageError && pattern.test(e.message));
}

describe('parseMetadataArgs (-m KEY=VALUE)', () => {
  it('splits at the first "=", keeps "=" in values and allows empty values', () => {
    assert.deepEqual(parseMetadataArgs(['JOB=42', 'URL=http://x/?a=b', 'EMPTY=', 'my.key-1=v', '_x=1']), {
      JOB: '42',
      URL: 'http://x/?a=b',
      EMPTY: '',
      'my.key-1': 'v',
      _x: '1',
    });
  });

  it('rejects a pair without "=", naming it', () => {
    usage(() => parseMetadataArgs(['JOB']), /-m "JOB": expected KEY=VALUE/);
  });

  it('rejects an empty key', () => {
    usage(() => parseMetadataArgs(['=42']), /key before "=" is empty/);
  });

  it('rejects keys the API would refuse, naming the key', () => {
    usage(() => parseMetadataArgs(['1JOB=x']), /bad key "1JOB"/);
    usage(() => parseMetadataArgs(['A B=x']), /bad key "A B"/);
    usage(() => parseMetadataArgs([`${'k'.repeat(129)}=x`]), /at most 128/);
  });

  it('rejects a key given twice', () => {
    usage(() => parseMetadataArgs(['A=1', 'A=2']), /"A" is given twice/);
  });
});

describe('parseLabelRef (NAME[:VERSION])', () => {
  it('parses a name, a name with version, and "latest"', () => {
    assert.deepEqual(parseLabelRef('busybox'), { name: 'busybox' });
    assert.deepEqual(parseLabelRef('ubuntu-ci.x_1:3'), { name: 'ubuntu-ci.x_1', version: 3 });
    assert.deepEqual(parseLabelRef('busybox:latest'), { name: 'busybox' });
  });

  it('rejects bad names and versions', () => {
    usage(() => parseLabelRef('BusyBox'), /label "BusyBox": the name must be lowercase/);
    usage(() => parseLabelRef('busybox:0'), /version after ":" must be a number ≥ 1/);
    usage(() => parseLabelRef('busybox:v2'), /version after ":"/);
    usage(() => parseLabelRef(':3'), /the name must be/);
  });
});

describe('durations and numbers', () => {
  it('parses durations to ms, a bare number being seconds', () => {
    assert.equal(parseDurationMs('10m', '--timeout'), 600_000);
    assert.equal(parseDurationMs('90', '--timeout'), 90_000);
    assert.equal(parseDurationMs('250ms', '--timeout'), 250);
    assert.equal(parseDurationMs('1d', '--timeout'), 86_400_000);
  });

  it('rejects bad or zero durations naming the option', () => {
    usage(() => parseDurationMs('ten minutes', '--timeout'), /--timeout "ten minutes": expected a duration/);
    usage(() => parseDurationMs('0s', '--timeout'), /must be greater than 0/);
    usage(() => checkDuration('2 hours', '--lifetime'), /--lifetime "2 hours"/);
    assert.equal(checkDuration('2h', '--lifetime'), '2h');
  });

  it('checks positive integers', () => {
    assert.equal(parsePositiveInt('50', '--limit', 1000), 50);
    usage(() => parsePositiveInt('0', '--limit', 1000), /--limit "0": expected a whole number from 1 to 1000/);
    usage(() => parsePositiveInt('5000', '--limit', 1000), /from 1 to 1000/);
    usage(() => parsePositiveInt('1.5', '--limit'), /whole number/);
  });

  it('formats elapsed times for people', () => {
    assert.equal(formatDuration(850), '850ms');
    assert.equal(formatDuration(4200), '4.2s');
    assert.equal(formatDuration(185_000), '3m05s');
    assert.equal(formatDuration(7_800_000), '2h10m');
  });
});
