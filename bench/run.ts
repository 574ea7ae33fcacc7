// `npm run bench`: runs every benchmark module, prints one table (Shoal vs the raw backend, side by
// side, measured in the same run) and exits non-zero when a target is missed or a benchmark fails.
// BENCH=core,docker limits the groups.
import { formatTable, type BenchModule, type BenchRow } from './lib/report.js';

const MODULES: Record<string, () => Promise<BenchModule>> = {
  core: () => import('./core-bench.js'),
  docker: () => import('./docker-bench.js'),
  qemu: () => import('./qemu-bench.js'),
  api: () => import('./drivers-api-bench.js'),
  native: () => import('./native-bench.js'),
  access: () => import('./access-bench.js'),
};

const only = process.env.BENCH?.split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const rows: BenchRow[] = [];
const failures: string[] = [];
for (const [group, load] of Object.entries(MODULES)) {
  if (only && !only.includes(group)) continue;
  process.stderr.write(`bench: ${group}…\n`);
  try {
    const mod = await load();
    rows.push(...(await mod.run()));
  } catch (err) {
    failures.push(`${group}: ${(err as Error).stack ?? String(err)}`);
  }
}
console.log(formatTable(rows));
for (const f of failures) console.error(`bench FAILED ${f}`);
const missed = rows.filter((r) => !r.ok);
if (missed.length > 0) console.error(`bench: ${missed.length} target(s) missed`);
process.exit(missed.length > 0 || failures.length > 0 ? 1 : 0);
