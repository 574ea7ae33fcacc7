import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { fingerprintOf } from '../../core/index.js';

/** The SSH gate's host key: made once in DATA_DIR/ssh, kept across restarts (clients pin it). */
export interface HostKey {
  /** OpenSSH private key text */
  privateKey: string;
  /** "ssh-ed25519 AAAA…" */
  publicKey: string;
  /** "SHA256:…", as `ssh-keygen -l` prints it */
  fingerprint: string;
}

/**
 * An ed25519 pair in OpenSSH format. ssh2's generator drops a leading zero byte of the public key
 * (about 1 pair in 250), and the result does not parse ("Malformed OpenSSH private key"): such a
 * pair is made again.
 */
export function generateEd25519(): { private: string; public: string } {
  for (let i = 0; ; i++) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519');
    const parsed = ssh2.utils.parseKey(pair.private);
    if (!(parsed instanceof Error) && !Array.isArray(parsed)) return pair;
    if (i >= 16) throw new Error(`cannot make an ed25519 key pair: ${parsed instanceof Error ? parsed.message : 'several keys'}`);
  }
}

export async function loadOrCreateHostKey(dataDir: string): Promise<HostKey> {
  const dir = join(dataDir, 'ssh');
  const file = join(dir, 'ssh_host_ed25519_key');
  let text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (text === undefined) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const pair = generateEd25519();
    // 'wx': two nodes on one data dir are prevented by its lock; never overwrite a key clients pinned
    await writeFile(file, pair.private, { mode: 0o600, flag: 'wx' });
    await writeFile(`${file}.pub`, `${pair.public} shoal-gate\n`, { mode: 0o644 });
    text = pair.private;
  }
  const parsed = ssh2.utils.parseKey(text);
  if (parsed instanceof Error || Array.isArray(parsed)) {
    throw new Error(
      `${file}: not an OpenSSH private key (${parsed instanceof Error ? parsed.message : 'several keys'}); remove it to make a new one`,
    );
  }
  const blob = parsed.getPublicSSH();
  return { privateKey: text, publicKey: `${parsed.type} ${blob.toString('base64')}`, fingerprint: fingerprintOf(blob) };
}
