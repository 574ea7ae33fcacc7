import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseJsonBody, parseYamlBody } from './body-parsers.js';
import { ApiError } from './errors.js';
import { findJsonProblem } from './json-error-position.js';

function malformed(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ApiError, `expected ApiError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the parser to throw');
}

describe('JSON bodies', () => {
  it('parses valid JSON; an empty body is undefined', () => {
    assert.deepEqual(parseJsonBody('{"a":[1,2,{"b":null}],"c":"d"}'), { a: [1, 2, { b: null }], c: 'd' });
    assert.equal(parseJsonBody('   \n'), undefined);
  });

  it('names line and column of the first error', () => {
    const e = malformed(() => parseJsonBody('{\n  "name": "x",\n  "definitions": [1, 2,]\n}'));
    assert.equal(e.code, 'MALFORMED_BODY');
    assert.equal(e.statusCode, 400);
    assert.match(e.message, /^body is not valid JSON: unexpected '\]' at line 3, column 24$/);
    assert.deepEqual(e.details, { format: 'json', line: 3, column: 24 });
  });

  it('reports an early end of input', () => {
    const e = malformed(() => parseJsonBody('{"a": [1, 2'));
    assert.match(e.message, /unexpected end of input at line 1, column 12/);
  });

  it('refuses __proto__ and constructor.prototype keys anywhere', () => {
    assert.match(malformed(() => parseJsonBody('{"a":{"__proto__":{"x":1}}}')).message, /body\/a\/__proto__ is not an allowed key/);
    assert.match(malformed(() => parseJsonBody('[{"constructor":{"prototype":{}}}]')).message, /body\/0\/constructor/);
    assert.equal(({} as Record<string, unknown>).x, undefined);
  });
});

describe('findJsonProblem', () => {
  const cases: Array<[string, number, string]> = [
    ['{"a" 1}', 5, "unexpected '1'"],
    ['{"a":1,}', 7, "unexpected '}'"],
    ['[1 2]', 3, "unexpected '2'"],
    ['tru', 3, 'unexpected end of input'],
    ['nul!', 3, "unexpected '!'"],
    ['{"a":"x\ty"}', 7, 'unexpected control character U+0009'],
    ['"\\q"', 2, "unexpected 'q'"],
    ['01', 1, "unexpected '1'"],
    ['-', 1, 'unexpected end of input'],
    ['{} x', 3, "unexpected 'x'"],
    ['{"a":1.}', 7, "unexpected '}'"],
    ["{'a':1}", 1, "unexpected '''"],
  ];
  for (const [text, index, problem] of cases) {
    it(`finds the problem in ${JSON.stringify(text)}`, () => {
      assert.throws(() => JSON.parse(text));
      const p = findJsonProblem(text);
      assert.ok(p);
      assert.equal(p.index, index);
      assert.equal(p.problem, problem);
    });
  }

  it('accepts what JSON.parse accepts, including deep nesting', () => {
    for (const ok of ['{"a":[1,-2.5e+3,true,false,null,"\\u00e9\\n"]}', ' [ ] ', '0', `${'['.repeat(50_000)}${']'.repeat(50_000)}`]) {
      assert.equal(findJsonProblem(ok), null, ok.slice(0, 30));
    }
  });
});

describe('YAML bodies', () => {
  it('parses YAML 1.2 mappings, sequences and scalars', () => {
    const text = 'name: busybox\ndefinitions:\n  - driver: test\n    requirements: {cpu: 1, ram: 2}\nmetadata:\n  K: "v"\n  ON: on\n';
    assert.deepEqual(parseYamlBody(text), {
      name: 'busybox',
      definitions: [{ driver: 'test', requirements: { cpu: 1, ram: 2 } }],
      metadata: { K: 'v', ON: 'on' },
    });
    assert.equal(parseYamlBody(''), undefined);
  });

  it('names line and column of a syntax error', () => {
    const e = malformed(() => parseYamlBody('name: x\ndefinitions:\n  - driver: test\n   bad: [1, 2\n'));
    assert.equal(e.code, 'MALFORMED_BODY');
    assert.match(e.message, /^body is not valid YAML: .+ at line \d+, column \d+$/);
    const d = e.details as { format: string; line: number; column: number };
    assert.equal(d.format, 'yaml');
    assert.ok(d.line >= 3, `line ${d.line}`);
  });

  it('refuses duplicate keys, several documents and alias bombs', () => {
    assert.match(malformed(() => parseYamlBody('a: 1\na: 2\n')).message, /unique.*line 2, column 1/);
    assert.equal(malformed(() => parseYamlBody('a: 1\n---\nb: 2\n')).code, 'MALFORMED_BODY');
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 0; i < 8; i++)
      bomb.push(
        `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}]`,
      );
    assert.equal(malformed(() => parseYamlBody(`${bomb.join('\n')}\n`)).code, 'MALFORMED_BODY');
  });

  it('refuses __proto__ keys', () => {
    assert.match(malformed(() => parseYamlBody('a:\n  __proto__:\n    polluted: 1\n')).message, /body\/a\/__proto__/);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});
