import { chmod, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { UsageError } from './errors.js';

/** What `shoal login` saves: where the node is, how to trust it, and who we are. */
export interface CliConfig {
  url: string;
  /** PEM of the node's CA (absent for plain-HTTP nodes or publicly trusted certificates) */
  ca?: string;
  user?: string;
  token: string;
}

/** `$SHOAL_CONFIG`, else `$XDG_CONFIG_HOME/shoal/config.json`, else `~/.config/shoal/config.json`. */
export function configPath(env: NodeJS.ProcessEnv, cwd: string): string {
  if (env.SHOAL_CONFIG) return resolve(cwd, env.SHOAL_CONFIG);
  const base = env.XDG_CONFIG_HOME ? resolve(cwd, env.XDG_CONFIG_HOME) : join(env.HOME ?? homedir(), '.config');
  return join(base, 'shoal', 'config.json');
}

/** The saved config, or undefined when there is none. A broken file is a usage error naming it. */
export async function readConfig(path: string): Promise<{ config: CliConfig; warning?: string } | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UsageError(`cannot read the config file ${path}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new UsageError(`the config file ${path} is not valid JSON: run \`shoal login\` again (or delete it)`);
  }
  const c = doc as Partial<Record<keyof CliConfig, unknown>>;
  if (typeof doc !== 'object' || doc === null || typeof c.url !== 'string' || typeof c.token !== 'string') {
    throw new UsageError(`the config file ${path} lacks "url" or "token": run \`shoal login\` again`);
  }
  const config: CliConfig = { url: c.url, token: c.token };
  if (typeof c.ca === 'string') config.ca = c.ca;
  if (typeof c.user === 'string') config.user = c.user;
  const mode = (await stat(path)).mode & 0o777;
  const warning =
    (mode & 0o077) !== 0
      ? `the config file ${path} holds a token but is readable by others (mode ${mode.toString(8)}): chmod 600 ${path}`
      : undefined;
  return warning === undefined ? { config } : { config, warning };
}

/**
 * Saves the config with mode 0600 (its directory 0700 when created): written to a private temp
 * file first, then renamed over the old one, so a crash never leaves a half-written or readable file.
 */
export async function writeConfig(path: string, config: CliConfig): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(`${JSON.stringify(config, null, 2)}\n`, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await chmod(tmp, 0o600);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

export async function removeConfig(path: string): Promise<boolean> {
  try {
    await rm(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
