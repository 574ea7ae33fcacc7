import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { envName, filterPrefix, formatEnv, formatMetadata, shellQuote } from './meta-format.js';

const tricky = {
  PLAIN: 'v',
  QUOTE: 'it\'s $HOME `id` "x" \\ $(echo pwned)',
  MULTI: 'line1\nline2',
  NUM: 42,
  BOOL: false,
  NULL: null,
  NESTED: { a: [1, 'two'] },
  'dotted.key-x': 'd',
};

describe('Meta API formats', () => {
  it('env: a POSIX shell reads back exactly the values (nothing expanded)', () => {
    const env = formatEnv(tricky);
    const script = `set -eu\n${env}\nprintf '%s\\0' "$PLAIN" "$QUOTE" "$MULTI" "$NUM" "$BOOL" "$NULL" "$NESTED" "$dotted_key_x"`;
    const out = execFileSync('/bin/sh', ['-c', script], { encoding: 'utf8' }).split('\0').slice(0, -1);
    assert.deepEqual(out, ['v', tricky.QUOTE, 'line1\nline2', '42', 'false', '', '{"a":[1,"two"]}', 'd']);
  });

  it('env: keys become valid names; the first of two colliding keys wins', () => {
    assert.equal(envName('a.b-c'), 'a_b_c');
    assert.equal(envName('_ok9'), '_ok9');
    assert.equal(formatEnv({ 'a.b': '1', a_b: '2' }), "a_b='1'\n");
    assert.equal(shellQuote("x'y"), `'x'\\''y'`);
  });

  it('json and yaml round-trip the data', () => {
    assert.deepEqual(JSON.parse(formatMetadata(tricky, 'json')), tricky);
    assert.deepEqual(parseYaml(formatMetadata(tricky, 'yaml')), tricky);
    assert.deepEqual(parseYaml(formatMetadata({}, 'yaml')), {});
  });

  it('prefix keeps only the keys that start with it', () => {
    assert.deepEqual(filterPrefix({ CI_A: 1, CI_B: 2, OTHER: 3 }, 'CI_'), { CI_A: 1, CI_B: 2 });
    assert.deepEqual(filterPrefix({ A: 1 }, ''), { A: 1 });
    assert.deepEqual(filterPrefix({ A: 1 }, 'Z'), {});
  });
});
