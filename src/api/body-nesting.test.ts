import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jsonNestingProblem, yamlNestingProblem } from './body-nesting.js';
import { parseJsonBody, parseYamlBody } from './body-parsers.js';

describe('body nesting, measured on the text', () => {
  it('JSON: exact, brackets inside strings do not count, the position is given', () => {
    assert.equal(jsonNestingProblem('{"a":[[1]]}', 3), null);
    assert.deepEqual(jsonNestingProblem('{"a":[[1]]}', 2), { depth: 3, line: 1, column: 7 });
    assert.equal(jsonNestingProblem(`{"a":"${'['.repeat(500)}"}`, 2), null);
    assert.equal(jsonNestingProblem(`{"a":"\\"${'['.repeat(500)}"}`, 2), null, 'an escaped quote does not end the string');
    assert.equal(jsonNestingProblem('{\n "a":\n  [[[1]]]}', 3)?.line, 3);
  });

  it('YAML: block levels, compact "- - -" levels and flow brackets all count; quoting cannot hide brackets', () => {
    assert.equal(yamlNestingProblem('a:\n  b:\n    c: 1\n', 3), null);
    assert.notEqual(yamlNestingProblem('a:\n  b:\n    c:\n      d: 1\n', 3), null);
    assert.notEqual(yamlNestingProblem(`${'- '.repeat(10)}x`, 5), null);
    assert.notEqual(yamlNestingProblem(`a: [[[[[[1]]]]]]`, 5), null);
    assert.notEqual(
      yamlNestingProblem(`- it's\n- ${'['.repeat(10)}${']'.repeat(10)}`, 5),
      null,
      'an apostrophe does not start a string that hides brackets',
    );
    assert.notEqual(yamlNestingProblem(`a: "${'{'.repeat(10)}"`, 5), null, 'counted even inside quotes (conservative)');
    assert.equal(yamlNestingProblem('# [[[[[[[[[[\na: 1\n', 5), null, 'comment lines do not count');
  });

  it('the parsers refuse past the limit with MALFORMED_BODY naming it, before parsing', () => {
    assert.throws(
      () => parseJsonBody('['.repeat(100_000) + ']'.repeat(100_000)),
      /nested deeper than the limit of 64 levels at line 1, column 65/,
    );
    assert.throws(() => parseYamlBody('['.repeat(100_000) + ']'.repeat(100_000)), /nested deeper than the limit of 64 levels/);
    assert.throws(() => parseYamlBody(`${'- '.repeat(100_000)}x`), /nested deeper than the limit of 64 levels/);
    assert.throws(
      () => parseJsonBody('[[[1]]]', 2),
      (err: Error & { code?: string }) => err.code === 'MALFORMED_BODY',
    );
    assert.deepEqual(parseYamlBody('a: [1, {b: 2}]', 4), { a: [1, { b: 2 }] });
    // aliases nest deeper than the text shows: measured again after expansion
    const text = `a: &a [[[[1]]]]\nb: &b [[[[*a]]]]\nc: [[[[*b]]]]\n`;
    assert.equal(yamlNestingProblem(text, 8), null);
    assert.throws(() => parseYamlBody(text, 8), /nested deeper than the limit of 8 levels/);
  });
});
