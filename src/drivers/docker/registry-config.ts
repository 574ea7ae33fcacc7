import { readFile } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { Type } from '@sinclair/typebox';
import { DriverError, invalidConfig, invalidDefinition } from '../../contract/index.js';
import { authServer, type RegistryRef } from './registry-ref.js';

/** Credentials of one private registry (node config only: never in a label, a log or an API answer). */
export interface RegistryCredentials {
  username: string;
  /** the password itself, or… */
  password?: string;
  /** …an absolute path of a file holding it (read at each pull, so it can be rotated) */
  passwordFile?: string;
}

/** Where `options.image` may be pulled from, and with which credentials. */
export interface RegistrySettings {
  /** registries a label may pull from: host[:port] as written in references, "docker.io" for Docker Hub, "*" for any */
  allow: string[];
  /** host[:port] → credentials (a registry listed here is allowed too) */
  credentials: Map<string, RegistryCredentials>;
  /** a pull taking longer fails (ms) */
  pullTimeoutMs: number;
}

const HOST_PORT = /^(?:\*|[a-z0-9]([a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(?::[0-9]{1,5})?)$/;

/** The registry keys of the docker config schema (docs/drivers/docker.md lists them). */
export const RegistryConfigSchema = {
  allow_registries: Type.Optional(
    Type.Array(Type.String({ minLength: 1, maxLength: 255 }), {
      maxItems: 256,
      description: 'registries labels may pull options.image from: host[:port], "docker.io" (Docker Hub), "*" any (default ["docker.io"])',
    }),
  ),
  registries: Type.Optional(
    Type.Record(
      Type.String(),
      Type.Object(
        {
          username: Type.String({ minLength: 1 }),
          password: Type.Optional(Type.String({ minLength: 1 })),
          password_file: Type.Optional(Type.String({ minLength: 1 })),
        },
        { additionalProperties: false },
      ),
      { description: 'private registry credentials: "host:port" → {username, password | password_file}' },
    ),
  ),
  pull_timeout: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400, description: 'seconds a registry pull may take (default 600)' })),
};

/** Parse the registry keys of the driver config (already schema-checked); throws INVALID_CONFIG naming the field. */
export function parseRegistrySettings(raw: {
  allow_registries?: string[] | undefined;
  registries?: Record<string, { username: string; password?: string | undefined; password_file?: string | undefined }> | undefined;
  pull_timeout?: number | undefined;
}): RegistrySettings {
  const allow = (raw.allow_registries ?? ['docker.io']).map((h, i) => {
    const v = h.toLowerCase();
    if (!HOST_PORT.test(v)) throw invalidConfig(`allow_registries[${i}]`, `"${h}" is not a host[:port] (or "*")`);
    return v;
  });
  const credentials = new Map<string, RegistryCredentials>();
  for (const [host, c] of Object.entries(raw.registries ?? {})) {
    const key = host.toLowerCase();
    if (!HOST_PORT.test(key) || key === '*') throw invalidConfig(`registries.${host}`, 'must be keyed by a registry host[:port]');
    if ((c.password === undefined) === (c.password_file === undefined)) {
      throw invalidConfig(`registries.${host}`, 'needs exactly one of password, password_file');
    }
    if (c.password_file !== undefined && !isAbsolute(c.password_file)) {
      throw invalidConfig(`registries.${host}.password_file`, 'must be an absolute path');
    }
    credentials.set(key, {
      username: c.username,
      ...(c.password !== undefined ? { password: c.password } : {}),
      ...(c.password_file !== undefined ? { passwordFile: c.password_file } : {}),
    });
  }
  return { allow, credentials, pullTimeoutMs: (raw.pull_timeout ?? 600) * 1000 };
}

/** Whether a label may make this node pull from `ref`'s registry; throws INVALID_DEFINITION on options.image when not. */
export function checkRegistryAllowed(settings: RegistrySettings, ref: RegistryRef): void {
  if (settings.allow.includes('*') || settings.allow.includes(ref.registry) || settings.credentials.has(ref.registry)) return;
  throw invalidDefinition(
    'options.image',
    `registry ${ref.registry} is not allowed on this node (the docker driver's allow_registries lists ${settings.allow.join(', ') || 'none'})`,
  );
}

/** Docker's auth config for a registry, or undefined when the node has no credentials for it. Never log the result. */
export async function registryAuth(
  settings: RegistrySettings,
  registry: string,
): Promise<{ username: string; password: string; serveraddress: string } | undefined> {
  const c = settings.credentials.get(registry);
  if (!c) return undefined;
  let password = c.password ?? '';
  if (c.passwordFile !== undefined) {
    try {
      password = (await readFile(c.passwordFile, 'utf8')).replace(/\r?\n$/, '');
    } catch (err) {
      throw new DriverError(
        'INVALID_CONFIG',
        `registries.${registry}.password_file: cannot read ${c.passwordFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
        {
          field: `registries.${registry}.password_file`,
          cause: err,
        },
      );
    }
  }
  return { username: c.username, password, serveraddress: authServer(registry) };
}
