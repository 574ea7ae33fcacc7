import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface FdLimit {
  soft: number;
  hard: number;
  /** true when the soft limit was raised to the hard one at start */
  raised: boolean;
}

function read(): { soft: number; hard: number } | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const m = line ? /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(line) : null;
    if (!m) return null;
    const n = (v: string): number => (v === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(v));
    return { soft: n(m[1]!), hard: n(m[2]!) };
  } catch {
    return null; // not Linux
  }
}

/**
 * Raises this process's open-files soft limit to its hard limit (Node has no setrlimit; util-linux
 * `prlimit` does it for our own pid, when installed). Returns the limits after, or null when they
 * cannot be read (not Linux).
 */
export function raiseFdLimit(): FdLimit | null {
  const before = read();
  if (before === null) return null;
  if (before.soft >= before.hard) return { ...before, raised: false };
  const hard = before.hard === Number.MAX_SAFE_INTEGER ? 'unlimited' : String(before.hard);
  spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=${hard}:${hard}`], { stdio: 'ignore', timeout: 5000 });
  const after = read() ?? before;
  return { ...after, raised: after.soft > before.soft };
}
