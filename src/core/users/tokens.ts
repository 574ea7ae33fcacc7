import { createHash, randomBytes } from 'node:crypto';
import argon2 from 'argon2';

/**
 * Tokens are `<id>.<secret>`: the id (16 hex) finds the user, the secret (43 base64url chars,
 * 256 bits) is checked against its argon2id hash. Only the hash is stored.
 */
const TOKEN = /^([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$/;

/** argon2id, OWASP's minimum-memory profile: ~25 ms per check on a small CPU. */
const ARGON2_OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export interface NewToken {
  id: string;
  secret: string;
  token: string;
}

export function newToken(): NewToken {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { id, secret, token: `${id}.${secret}` };
}

export function splitToken(token: string): { id: string; secret: string } | null {
  const m = TOKEN.exec(token);
  return m ? { id: m[1]!, secret: m[2]! } : null;
}

export function hashSecret(secret: string): Promise<string> {
  return argon2.hash(secret, ARGON2_OPTIONS);
}

let verifications = 0;

/** argon2 verifications run by this process (tests check that unknown ids cost one too). */
export function verificationCount(): number {
  return verifications;
}

export async function verifySecret(hash: string, secret: string): Promise<boolean> {
  verifications++;
  try {
    return await argon2.verify(hash, secret);
  } catch {
    return false; // a malformed stored hash never authenticates
  }
}

/** SHA-256 of a token: the cache key (the token itself is never kept). */
export function tokenKey(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

let dummy: Promise<string> | undefined;

/**
 * An argon2id hash of a random secret nobody knows, made once per process with the same options
 * as real ones: verifying against it costs what verifying a real token costs, and never succeeds.
 */
export function dummyHash(): Promise<string> {
  dummy ??= hashSecret(randomBytes(32).toString('base64url'));
  return dummy;
}
