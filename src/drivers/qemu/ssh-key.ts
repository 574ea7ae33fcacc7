/**
 * The per-application SSH key pair the node uses to reach a guest's own sshd: ed25519, made with
 * node:crypto and written in OpenSSH's own formats (`openssh-key-v1` private key, `ssh-ed25519 …`
 * public line), which ssh, ssh2 and every sshd read. The private key never leaves the VM's
 * directory (0600) and is never logged.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';

export interface SshKeyPair {
  /** OpenSSH private key file content (unencrypted) */
  privateKey: string;
  /** `ssh-ed25519 <base64> <comment>` (an authorized_keys line) */
  publicKey: string;
}

function sshString(data: Buffer | string): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}

function uint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** A fresh ed25519 key pair; `comment` ends the public line (no spaces or newlines). */
export function generateSshKeyPair(comment: string): SshKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const pubJwk = publicKey.export({ format: 'jwk' });
  const privJwk = privateKey.export({ format: 'jwk' });
  if (typeof pubJwk.x !== 'string' || typeof privJwk.d !== 'string') throw new Error('ed25519 key export gave no key material');
  const pub = Buffer.from(pubJwk.x, 'base64url');
  const seed = Buffer.from(privJwk.d, 'base64url');
  const safeComment = comment.replace(/[^A-Za-z0-9@._-]/g, '_');
  const pubBlob = Buffer.concat([sshString('ssh-ed25519'), sshString(pub)]);
  const check = randomBytes(4);
  const parts = [check, check, sshString('ssh-ed25519'), sshString(pub), sshString(Buffer.concat([seed, pub])), sshString(safeComment)];
  let body = Buffer.concat(parts);
  const pad: number[] = [];
  for (let i = 1; (body.length + pad.length) % 8 !== 0; i++) pad.push(i);
  body = Buffer.concat([body, Buffer.from(pad)]);
  const file = Buffer.concat([
    Buffer.from('openssh-key-v1\0', 'latin1'),
    sshString('none'),
    sshString('none'),
    sshString(''),
    uint32(1),
    sshString(pubBlob),
    sshString(body),
  ]);
  const b64 = file.toString('base64').match(/.{1,70}/g) ?? [];
  return {
    privateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${b64.join('\n')}\n-----END OPENSSH PRIVATE KEY-----\n`,
    publicKey: `ssh-ed25519 ${pubBlob.toString('base64')} ${safeComment}`,
  };
}

/** Host key algorithms a guest may report (what sshd generates). */
const HOST_KEY_TYPES = new Set(['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa']);

/** A public host key as an SSH client pins it: its algorithm and base64 blob (no comment). */
export interface HostKey {
  type: string;
  key: string;
}

/**
 * Parse one public key line (`<type> <base64> [comment]`); undefined when it is not a host key
 * of a known type or its blob does not name the same type.
 */
export function parseHostKey(line: string): HostKey | undefined {
  const m = /^\s*([a-z0-9-]+) ([A-Za-z0-9+/]+={0,2})(?:\s.*)?$/s.exec(line);
  if (!m) return undefined;
  const type = m[1]!;
  const key = m[2]!;
  if (!HOST_KEY_TYPES.has(type)) return undefined;
  const blob = Buffer.from(key, 'base64');
  if (blob.length < 4) return undefined;
  const len = blob.readUInt32BE(0);
  if (len !== type.length || blob.subarray(4, 4 + len).toString('latin1') !== type) return undefined;
  return { type, key };
}
