// The dependency direction of the layers (docs/architecture.md), checked on the sources: contract ← drivers;
// model ← store ← core ← api ← client ← cli; main wires everything.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';

const ROOT = new URL('../../', import.meta.url).pathname;
const SRC = join(ROOT, 'src');

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** src-relative targets of the relative imports of a file (import/export … from, import()). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*)'(\.{1,2}\/[^']+)'/g)) {
    out.push(relative(SRC, resolve(dirname(file), m[1]!)));
  }
  return out;
}

const isTest = (f: string): boolean => /\.test\.ts$|\/testing\/|\/test-helpers\/|test-support\.ts$|\/fixtures\//.test(f);

/** src/lib/: small primitives (locks, durations) that every layer but the contract may import; lib imports only lib */
const lib = (t: string): boolean => t.startsWith('lib/');

/** what each top folder (or driver folder) may import, besides itself */
function allowed(from: string): (target: string) => boolean {
  const [top, sub] = from.split('/');
  switch (top) {
    case 'contract':
      return (t) => t.startsWith('contract/');
    case 'drivers':
      if (from === 'drivers/registry.ts') return (t) => lib(t) || t.startsWith('contract/') || t.startsWith('drivers/');
      if (sub === 'shared') return (t) => lib(t) || t.startsWith('contract/') || t.startsWith('drivers/shared/');
      return (t) => lib(t) || t.startsWith('contract/') || t.startsWith('drivers/shared/') || t.startsWith(`drivers/${sub}/`);
    case 'lib':
      return lib;
    case 'model':
      return (t) => lib(t) || t.startsWith('model/');
    case 'store':
      return (t) => lib(t) || t.startsWith('store/') || t.startsWith('model/');
    case 'core':
      // the store's interface only, never a dialect or a driver
      return (t) =>
        lib(t) ||
        t.startsWith('core/') ||
        t.startsWith('model/') ||
        t.startsWith('contract/') ||
        t === 'store/store.js' ||
        t === 'store/errors.js';
    case 'api':
      return (t) => lib(t) || t.startsWith('api/') || t.startsWith('model/') || t.startsWith('core/');
    case 'client':
      return (t) => lib(t) || t.startsWith('client/') || t.startsWith('model/');
    case 'cli':
      return (t) => lib(t) || t.startsWith('cli/') || t.startsWith('client/') || t.startsWith('model/') || t === 'main/index.js';
    case 'main':
      return () => true;
    default:
      return () => false;
  }
}

describe('import rules', () => {
  it('every source file imports only what its layer may', () => {
    const problems: string[] = [];
    const files = sources(SRC).filter((f) => !isTest(f));
    assert.ok(files.length > 100, 'the sources were found');
    for (const file of files) {
      const from = relative(SRC, file);
      const ok = allowed(from);
      for (const target of importsOf(file)) if (!ok(target)) problems.push(`${from} → ${target}`);
    }
    assert.deepEqual(problems, []);
  });

  it('the driver contract imports nothing but node built-ins', () => {
    for (const file of sources(join(SRC, 'contract')).filter((f) => !isTest(f))) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/from\s+'([^'.][^']*)'/g)) {
        assert.ok(m[1]!.startsWith('node:'), `${relative(SRC, file)} imports ${m[1]}`);
      }
    }
  });
});
