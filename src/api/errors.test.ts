import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CORE_ERROR_CODES, CoreError } from '../core/errors.js';
import { API_ERROR_CODES, ApiError, AUTH_CHALLENGE, HTTP_STATUS, mapKnownError } from './errors.js';

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    assert.notEqual(up, dir, 'package.json not found above the test');
    dir = up;
  }
  return dir;
}

/** `| \`CODE\` | 404 | …` rows of the HTTP API table in docs/errors.md */
function documentedStatuses(): Map<string, number> {
  const md = readFileSync(join(repoRoot(), 'docs', 'errors.md'), 'utf8');
  const section = md.split(/^## /m).find((s) => s.startsWith('HTTP API'));
  assert.ok(section, 'docs/errors.md has an "## HTTP API" section');
  const out = new Map<string, number>();
  for (const m of section.matchAll(/^\|\s*`([A-Z_]+)`\s*\|\s*(\d{3})\s*\|/gm)) out.set(m[1] as string, Number(m[2]));
  return out;
}

describe('error codes', () => {
  it('docs/errors.md lists every core and API code with the status the API sends', () => {
    const documented = documentedStatuses();
    for (const code of [...CORE_ERROR_CODES, ...API_ERROR_CODES]) {
      assert.ok(documented.has(code), `docs/errors.md does not list ${code}`);
      assert.equal(documented.get(code), HTTP_STATUS[code], `docs/errors.md gives ${code} another status than src/api/errors.ts`);
    }
    for (const code of documented.keys()) {
      assert.ok(code in HTTP_STATUS, `docs/errors.md lists ${code}, which no code defines`);
    }
  });

  it('maps every core code to its status, with WWW-Authenticate on 401 and Retry-After on 429', () => {
    const expected: Record<string, number> = {
      UNAUTHORIZED: 401,
      FORBIDDEN: 403,
      NOT_FOUND: 404,
      INVALID: 400,
      INVALID_DEFINITION: 400,
      UNKNOWN_DRIVER: 400,
      CONFLICT: 409,
      UNSATISFIABLE: 422,
      TOO_MANY_REQUESTS: 429,
      UNAVAILABLE: 503,
    };
    for (const code of CORE_ERROR_CODES) {
      const m = mapKnownError(new CoreError(code, `problem ${code}`, { field: 'x' }));
      assert.ok(m);
      assert.equal(m.status, expected[code], code);
      assert.deepEqual(m.body, { error: { code, message: `problem ${code}`, details: { field: 'x' } } });
    }
    assert.equal(mapKnownError(new CoreError('UNAUTHORIZED', 'no'))?.headers['www-authenticate'], AUTH_CHALLENGE);
    assert.equal(mapKnownError(new CoreError('TOO_MANY_REQUESTS', 'slow down', { retry_after: 12.2 }))?.headers['retry-after'], '13');
    assert.equal(mapKnownError(new CoreError('TOO_MANY_REQUESTS', 'slow down'))?.headers['retry-after'], '60');
  });

  it('leaves out details when there are none, and does not map foreign errors', () => {
    assert.deepEqual(mapKnownError(new ApiError('PAYLOAD_TOO_LARGE', 'too big'))?.body, {
      error: { code: 'PAYLOAD_TOO_LARGE', message: 'too big' },
    });
    assert.equal(mapKnownError(new ApiError('PAYLOAD_TOO_LARGE', 'too big'))?.status, 413);
    assert.equal(mapKnownError(new Error('boom')), null);
    assert.equal(mapKnownError('a string'), null);
  });
});
