import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { isFatal } from './process-guard.js';

const GUARD = new URL('./process-guard.js', import.meta.url).href;

/** Runs `body` in a child node with the guard installed (a logger that prints JSON lines). */
function runGuarded(body: string): { status: number | null; lines: Array<Record<string, unknown>> } {
  const script = `
    import { installProcessGuard } from ${JSON.stringify(GUARD)};
    const out = (level) => (obj, msg) => process.stdout.write(JSON.stringify({ level, msg, ...obj }) + '\\n');
    const log = { error: out('error'), fatal: out('fatal') };
    installProcessGuard(log, () => { process.stdout.write(JSON.stringify({ msg: 'onFatal' }) + '\\n'); process.exit(70); });
    ${body}
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  const lines = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { status: r.status, lines };
}

describe('process guard', () => {
  it('an unhandled rejection and an exception in a callback are logged; the process keeps running', () => {
    const r = runGuarded(`
      Promise.reject(new RangeError('Maximum call stack size exceeded'));
      setTimeout(() => { throw new Error('thrown in a callback'); }, 0);
      setTimeout(() => { process.stdout.write(JSON.stringify({ msg: 'still serving' }) + '\\n'); process.exit(0); }, 100);
    `);
    assert.equal(r.status, 0, JSON.stringify(r.lines));
    const kinds = r.lines
      .filter((l) => l.level === 'error')
      .map((l) => l.kind)
      .sort();
    assert.deepEqual(kinds, ['uncaughtException', 'unhandledRejection']);
    assert.ok(r.lines.some((l) => l.msg === 'still serving'));
  });

  it('a corrupt or full database still stops the node', () => {
    const r = runGuarded(`
      const err = Object.assign(new Error('database disk image is malformed'), { code: 'SQLITE_CORRUPT' });
      Promise.reject(err);
      setTimeout(() => process.exit(0), 2000);
    `);
    assert.equal(r.status, 70);
    assert.ok(r.lines.some((l) => l.level === 'fatal' && l.code === 'SQLITE_CORRUPT'));
    assert.ok(r.lines.some((l) => l.msg === 'onFatal'));
    assert.equal(isFatal({ code: 'SQLITE_IOERR_WRITE' }), true);
    assert.equal(isFatal({ code: 'SQLITE_FULL' }), true);
    assert.equal(isFatal(new RangeError('x')), false);
    assert.equal(isFatal(null), false);
  });
});
