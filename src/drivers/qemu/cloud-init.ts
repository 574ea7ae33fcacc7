/**
 * Cloud-init for stock cloud images: the NoCloud-net seed a VM reads through its own Meta API
 * channel (shared/meta-channel.ts), and the host keys the guest reports back.
 *
 * The driver points cloud-init at `http://<meta_address>/nocloud/<mac id>/` — in the SMBIOS type-1
 * serial (`ds=nocloud-net;s=…`, for images that boot with their own bootloader) and on the kernel
 * command line when it boots a kernel directly. Under that path the channel serves the VM's own
 * files (written at allocate into `<vm dir>/cloud-init/`, so a restarted node serves them again):
 * `meta-data` (instance-id = the application uid, local-hostname, the access public key),
 * `user-data` (the metadata key `user_data`, else a default #cloud-config), `vendor-data` (the
 * access user and key, and `phone_home`), `network-config` (DHCP on the VM's NIC). The guest's
 * `phone_home` POST to `…/phone-home` records its SSH host keys in `<vm dir>/host-keys.json`; the
 * first report is kept (later ones are refused) so the keys the node pins are the ones the guest
 * made at its first boot. Every other path goes to the Meta API handler.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { DriverLogger, MetaHandler } from '../../contract/index.js';
import { macHex } from '../shared/mac.js';
import { parseHostKey, type HostKey } from './ssh-key.js';

/** The account the default cloud-config and vendor-data create for the node's access key. */
export const GUEST_USER = 'shoal';

const SEED_FILES = ['meta-data', 'user-data', 'vendor-data', 'network-config'] as const;
type SeedFile = (typeof SEED_FILES)[number];
/** A phone_home report is a few keys; anything bigger is refused. */
const MAX_REPORT_BYTES = 64 * 1024;

/** `/nocloud/<mac id>/`: the seed's path on the VM's channel. */
export function seedPath(hwaddr: string): string {
  return `/nocloud/${macHex(hwaddr)}/`;
}

/** What cloud-init is told, in the SMBIOS serial and on a kernel command line. */
export function seedArg(metaAddress: string, hwaddr: string): string {
  return `ds=nocloud-net;s=http://${metaAddress}${seedPath(hwaddr)}`;
}

/** A host name from the label and application (RFC 1123 label, at most 63 characters). */
export function guestHostname(label: string, application: string, hwaddr: string): string {
  const clean = (s: string): string =>
    s
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '');
  const app = clean(application).slice(0, 8);
  const base = clean(label).slice(0, 63 - app.length - 1);
  if (base === '' || app === '') return `shoal-${macHex(hwaddr)}`;
  return `${base}-${app}`.replace(/-+/g, '-');
}

export interface SeedInputs {
  hwaddr: string;
  /** the application uid (instance-id); the MAC when there is no application */
  instanceId: string;
  hostname: string;
  metaAddress: string;
  /** the metadata key `user_data`, when set */
  userData: string | undefined;
  /** the access key's authorized_keys line */
  publicKey: string;
}

function accessUser(publicKey: string): Record<string, unknown> {
  return {
    name: GUEST_USER,
    gecos: 'Shoal access',
    shell: '/bin/sh',
    lock_passwd: true,
    sudo: 'ALL=(ALL) NOPASSWD:ALL',
    ssh_authorized_keys: [publicKey],
  };
}

/** The four seed documents of a VM. */
export function renderSeed(s: SeedInputs): Record<SeedFile, string> {
  const phoneHome = `http://${s.metaAddress}${seedPath(s.hwaddr)}phone-home`;
  const defaultUserData = {
    locale: 'C.UTF-8',
    manage_etc_hosts: true,
    hostname: s.hostname,
    users: ['default', accessUser(s.publicKey)],
    ssh_authorized_keys: [s.publicKey],
  };
  // vendor-data applies under any user-data (a user's own document overrides its keys): a locale
  // that exists in minimal images (else cloud-init's locale module fails), the access user, phone_home
  const vendorData = {
    locale: 'C.UTF-8',
    manage_etc_hosts: true,
    users: ['default', accessUser(s.publicKey)],
    phone_home: { url: phoneHome, post: ['pub_key_rsa', 'pub_key_ecdsa', 'pub_key_ed25519', 'instance_id', 'hostname'], tries: 10 },
  };
  const networkConfig = {
    version: 2,
    ethernets: { nic0: { match: { macaddress: s.hwaddr }, dhcp4: true } },
  };
  return {
    'meta-data': stringify({ 'instance-id': s.instanceId, 'local-hostname': s.hostname, 'public-keys': [s.publicKey] }),
    'user-data': s.userData ?? `#cloud-config\n${stringify(defaultUserData)}`,
    'vendor-data': `#cloud-config\n${stringify(vendorData)}`,
    'network-config': stringify(networkConfig),
  };
}

export function seedDir(vmDir: string): string {
  return join(vmDir, 'cloud-init');
}

export function hostKeysFile(vmDir: string): string {
  return join(vmDir, 'host-keys.json');
}

/** Write the seed under `<vm dir>/cloud-init/` (0600 files: user-data may hold secrets). */
export async function writeSeed(vmDir: string, s: SeedInputs): Promise<void> {
  const dir = seedDir(vmDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const [name, text] of Object.entries(renderSeed(s))) await writeFile(join(dir, name), text, { mode: 0o600 });
}

/** The host keys the guest reported (undefined: none yet). */
export async function readHostKeys(vmDir: string): Promise<{ keys: HostKey[]; reportedAt: string } | undefined> {
  let text: string;
  try {
    text = await readFile(hostKeysFile(vmDir), 'utf8');
  } catch {
    return undefined;
  }
  const data = JSON.parse(text) as { keys?: unknown; reportedAt?: unknown };
  if (!Array.isArray(data.keys) || typeof data.reportedAt !== 'string') return undefined;
  const keys = data.keys.flatMap((k: { type?: unknown; key?: unknown }) =>
    typeof k.type === 'string' && typeof k.key === 'string' ? [parseHostKey(`${k.type} ${k.key}`)].filter((x) => x !== undefined) : [],
  );
  return { keys, reportedAt: data.reportedAt };
}

function answer(res: ServerResponse, status: number, body: string): void {
  res.statusCode = status;
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.setHeader('cache-control', 'no-store');
  res.end(body);
}

async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_REPORT_BYTES) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Record the host keys of a phone_home report; the answer's status says what happened. */
async function recordHostKeys(vmDir: string, body: string, hwaddr: string, log: DriverLogger): Promise<[number, string]> {
  const form = new URLSearchParams(body);
  const keys: HostKey[] = [];
  for (const [name, value] of form) {
    if (!name.startsWith('pub_key_') || value === 'N/A') continue;
    const key = parseHostKey(value);
    if (!key) return [400, `${name}: not an SSH public host key\n`];
    keys.push(key);
  }
  if (keys.length === 0) return [400, 'no pub_key_* host key in the report\n'];
  let fh;
  try {
    fh = await open(hostKeysFile(vmDir), 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return [409, 'host keys were already reported\n'];
    throw err;
  }
  try {
    await fh.writeFile(JSON.stringify({ keys, reportedAt: new Date().toISOString() }));
  } finally {
    await fh.close();
  }
  log.info({ hwaddr, types: keys.map((k) => k.type) }, 'guest reported its SSH host keys');
  return [200, 'recorded\n'];
}

/**
 * The handler of a VM's channel: the seed under `/nocloud/<mac id>/`, everything else to `meta`
 * (the Meta API as this VM).
 */
export function withCloudInit(vmDir: string, hwaddr: string, meta: MetaHandler, log: DriverLogger): MetaHandler {
  const prefix = seedPath(hwaddr);
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (!path.startsWith('/nocloud/')) {
      meta(req, res);
      return;
    }
    const name = path.startsWith(prefix) ? path.slice(prefix.length) : undefined;
    const serve = async (): Promise<void> => {
      if (name === 'phone-home') {
        if (req.method !== 'POST') return answer(res, 405, 'POST the phone_home report\n');
        const body = await readBody(req);
        if (body === undefined) return answer(res, 413, 'report too large\n');
        const [status, text] = await recordHostKeys(vmDir, body, hwaddr, log);
        return answer(res, status, text);
      }
      if (name === undefined || !(SEED_FILES as readonly string[]).includes(name)) return answer(res, 404, 'not found\n');
      if (req.method !== 'GET' && req.method !== 'HEAD') return answer(res, 405, 'GET only\n');
      let text: string;
      try {
        text = await readFile(join(seedDir(vmDir), name), 'utf8');
      } catch {
        return answer(res, 404, 'not found\n');
      }
      return answer(res, 200, req.method === 'HEAD' ? '' : text);
    };
    serve().catch((err: unknown) => {
      log.warn({ hwaddr, err: (err as Error).message }, 'cloud-init request failed');
      if (!res.headersSent) answer(res, 500, 'internal error\n');
      else res.end();
    });
  };
}
