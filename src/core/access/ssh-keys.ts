import { createHash } from 'node:crypto';
import ssh2 from 'ssh2';
import { CoreError } from '../errors.js';

/** Key types the SSH gate accepts (what OpenSSH offers by default, minus DSA). */
const KEY_TYPES = new Set(['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa']);
const MIN_RSA_BITS = 2048;
const MAX_COMMENT = 256;

/** A validated public key. */
export interface ParsedPublicKey {
  type: string;
  /** "<type> <base64 blob>" */
  publicKey: string;
  comment: string;
  fingerprint: string;
  /** the SSH wire blob (what an SSH client offers) */
  blob: Buffer;
}

/** "SHA256:…" of an SSH public key blob, as `ssh-keygen -l` prints it. */
export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The bit length of an RSA key's modulus, read from its wire blob (string type, mpint e, mpint n). */
function rsaBits(blob: Buffer): number {
  let off = 0;
  const next = (): Buffer => {
    if (off + 4 > blob.length) throw new Error('truncated');
    const len = blob.readUInt32BE(off);
    off += 4;
    if (off + len > blob.length) throw new Error('truncated');
    const b = blob.subarray(off, off + len);
    off += len;
    return b;
  };
  next(); // type
  next(); // e
  let n = next();
  while (n.length > 0 && n[0] === 0) n = n.subarray(1);
  if (n.length === 0) return 0;
  return (n.length - 1) * 8 + (32 - Math.clz32(n[0]!));
}

const invalid = (problem: string): CoreError => new CoreError('INVALID', `key: ${problem}`, { field: 'key' });

/**
 * Parses one public key in OpenSSH one-line form ("ssh-ed25519 AAAA… comment") with ssh2's key
 * parser; refuses private keys, several keys, unknown or weak types, with the reason.
 */
export function parsePublicKey(text: string): ParsedPublicKey {
  const line = text.trim();
  if (line === '') throw invalid('is empty; give one public key such as "ssh-ed25519 AAAA… you@host" (the .pub file)');
  if (/PRIVATE KEY/.test(line))
    throw invalid('this is a private key; give the public one (the .pub file), and keep the private key secret');
  if (/[\r\n]/.test(line)) throw invalid('holds more than one line; give one public key per request');
  const parts = line.split(/\s+/);
  const [type, base64] = parts;
  if (parts.length < 2 || type === undefined || base64 === undefined) {
    throw invalid('must be "<type> <base64> [comment]", e.g. "ssh-ed25519 AAAA… you@host"');
  }
  if (!KEY_TYPES.has(type)) {
    throw invalid(`type "${type.slice(0, 64)}" is not accepted; use one of ${[...KEY_TYPES].join(', ')}`);
  }
  const parsed = ssh2.utils.parseKey(line);
  if (parsed instanceof Error || Array.isArray(parsed)) {
    throw invalid(`cannot be read as an OpenSSH public key (${parsed instanceof Error ? parsed.message : 'several keys'})`);
  }
  if (parsed.isPrivateKey()) throw invalid('this is a private key; give the public one (the .pub file)');
  if (parsed.type !== type) throw invalid(`says "${type}" but holds a ${parsed.type} key`);
  const blob = parsed.getPublicSSH();
  if (type === 'ssh-rsa') {
    const bits = rsaBits(blob);
    if (bits < MIN_RSA_BITS) throw invalid(`RSA key of ${bits} bits is too weak; use ${MIN_RSA_BITS} bits or more (or ed25519)`);
  }
  const comment = parts.slice(2).join(' ');
  if (comment.length > MAX_COMMENT) throw invalid(`comment is longer than ${MAX_COMMENT} characters`);
  return { type, publicKey: `${type} ${blob.toString('base64')}`, comment, fingerprint: fingerprintOf(blob), blob };
}
