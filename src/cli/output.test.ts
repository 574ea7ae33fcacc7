import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageError } from './errors.js';
import { display, fieldText, formatAge, formatKeyValues, formatTable, pickField } from './output.js';

describe('formatTable', () => {
  it('aligns columns under upper-case headers with two spaces and no trailing blanks', () => {
    const text = formatTable(
      ['name', 'version', 'drivers'],
      [
        ['busybox', '12', 'docker'],
        ['tiny', '1', 'test,qemu'],
      ],
    );
    assert.equal(text, ['NAME     VERSION  DRIVERS', 'busybox  12       docker', 'tiny     1        test,qemu', ''].join('\n'));
  });

  it('keeps each row on one line even when a cell has newlines or tabs', () => {
    const text = formatTable(['a', 'b'], [['x\ny', 'tab\there']]);
    assert.equal(text.split('\n').length, 3);
    assert.match(text, /x y {2}tab here/);
  });

  it('counts characters, not bytes, when padding', () => {
    const text = formatTable(
      ['a', 'b'],
      [
        ['größe', '1'],
        ['x', '2'],
      ],
    );
    const lines = text.trimEnd().split('\n');
    assert.equal(lines[1]!.indexOf('1'), lines[2]!.indexOf('2'));
  });

  it('prints only the header for an empty list', () => {
    assert.equal(formatTable(['uid', 'status'], []), 'UID  STATUS\n');
  });
});

describe('formatKeyValues and display', () => {
  it('pads keys to one width and shows missing values as "-"', () => {
    assert.equal(
      formatKeyValues([
        ['uid', 'abc'],
        ['description', ''],
        ['metadata', { A: '1' }],
      ]),
      'uid          abc\ndescription  -\nmetadata     {"A":"1"}\n',
    );
  });

  it('display renders numbers, booleans and null', () => {
    assert.equal(display(3), '3');
    assert.equal(display(false), 'false');
    assert.equal(display(null), '-');
  });
});

describe('formatAge', () => {
  const now = Date.parse('2024-01-01T12:00:00Z');
  it('gives seconds, minutes, hours and days ago, and "in" for the future', () => {
    assert.equal(formatAge('2024-01-01T11:59:55Z', now), '5s ago');
    assert.equal(formatAge('2024-01-01T11:57:00Z', now), '3m ago');
    assert.equal(formatAge('2024-01-01T10:00:00Z', now), '2h ago');
    assert.equal(formatAge('2023-12-28T12:00:00Z', now), '4d ago');
    assert.equal(formatAge('2024-01-01T14:00:00Z', now), 'in 2h');
    assert.equal(formatAge(null, now), '-');
  });
});

describe('pickField (--field)', () => {
  const app = { uid: 'u1', state: { status: 'ALLOCATED' }, metadata: { JOB: '42' } };
  it('follows dot paths', () => {
    assert.equal(pickField(app, 'state.status'), 'ALLOCATED');
    assert.equal(pickField(app, 'metadata.JOB'), '42');
    assert.equal(fieldText(pickField(app, 'state')), '{"status":"ALLOCATED"}\n');
  });

  it('names a missing field and lists the ones there are', () => {
    assert.throws(
      () => pickField(app, 'state.nope'),
      (e: unknown) => e instanceof UsageError && /no field "nope" \(there are: status\)/.test(e.message),
    );
  });
});
