import { generateKeyPair, randomBytes, X509Certificate, createPrivateKey } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type forgeModule from 'node-forge';

export interface TlsMaterial {
  /** PEM private key of the node certificate */
  key: string;
  /** PEM node certificate */
  cert: string;
  /** PEM certificate clients should trust (the generated CA, or the given CA / certificate) */
  ca: string;
  caPath: string;
  certPath: string;
  keyPath: string;
  /** true when this call wrote a new node certificate (and maybe a new CA) */
  generated: boolean;
}

/** Bring-your-own certificate: PEM file paths. */
export interface OwnCertificate {
  cert: string;
  key: string;
  /** CA file clients should trust; default the certificate itself */
  ca?: string;
}

const CA_YEARS = 10;
const NODE_DAYS = 397;
/** a node certificate expiring sooner than this is replaced at start */
const RENEW_BEFORE_MS = 30 * 24 * 3600 * 1000;

const genKeyPair = promisify(generateKeyPair);

/**
 * TLS for the API. With `own`, loads and checks those files (the key must match the
 * certificate). Otherwise keeps a CA in DATA_DIR/tls (ca.crt, ca.key 0600) and a node certificate
 * signed by it (node.crt, node.key 0600) whose SANs cover `hosts` plus localhost, 127.0.0.1 and
 * ::1: created on first start, reused later, re-issued (same CA) when a host is missing or it
 * nears expiry. Keys are RSA 2048 made by node:crypto; node-forge builds the certificates.
 */
export async function ensureTls(dataDir: string, hosts: string[], own?: OwnCertificate): Promise<TlsMaterial> {
  if (own) return loadOwn(own);
  const dir = join(dataDir, 'tls');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const paths = {
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    cert: join(dir, 'node.crt'),
    key: join(dir, 'node.key'),
  };
  const names = sanNames(hosts);

  let caCertPem = await readOptional(paths.caCert);
  let caKeyPem = await readOptional(paths.caKey);
  let generated = false;
  if (caCertPem === null || caKeyPem === null || !caUsable(caCertPem, caKeyPem)) {
    const ca = await makeCa();
    caCertPem = ca.cert;
    caKeyPem = ca.key;
    await writeAtomic(paths.caKey, caKeyPem, 0o600);
    await writeAtomic(paths.caCert, caCertPem, 0o600);
    generated = true;
  }

  let certPem = generated ? null : await readOptional(paths.cert);
  let keyPem = generated ? null : await readOptional(paths.key);
  if (certPem === null || keyPem === null || !nodeCertUsable(certPem, keyPem, caCertPem, names)) {
    const made = await makeNodeCert(caCertPem, caKeyPem, names);
    certPem = made.cert;
    keyPem = made.key;
    await writeAtomic(paths.key, keyPem, 0o600);
    await writeAtomic(paths.cert, certPem, 0o600);
    generated = true;
  }
  return { key: keyPem, cert: certPem, ca: caCertPem, caPath: paths.caCert, certPath: paths.cert, keyPath: paths.key, generated };
}

interface SanNames {
  dns: string[];
  ips: string[];
}

function sanNames(hosts: string[]): SanNames {
  const dns = new Set<string>(['localhost']);
  const ips = new Set<string>(['127.0.0.1', '::1']);
  for (const raw of hosts) {
    const h = raw.trim().replace(/^\[(.*)\]$/, '$1');
    if (h === '' || h === '0.0.0.0' || h === '::') continue; // wildcard binds are not names
    if (isIP(h) !== 0) ips.add(h);
    else if (/^[A-Za-z0-9*]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(h)) dns.add(h.toLowerCase());
  }
  return { dns: [...dns], ips: [...ips] };
}

async function loadOwn(own: OwnCertificate): Promise<TlsMaterial> {
  const cert = await readFile(own.cert, 'utf8').catch((err: Error) => {
    throw new Error(`tls.cert: cannot read ${own.cert}: ${err.message}`);
  });
  const key = await readFile(own.key, 'utf8').catch((err: Error) => {
    throw new Error(`tls.key: cannot read ${own.key}: ${err.message}`);
  });
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    throw new Error(`tls.cert: ${own.cert} is not a PEM certificate`);
  }
  let keyObject;
  try {
    keyObject = createPrivateKey(key);
  } catch {
    throw new Error(`tls.key: ${own.key} is not a PEM private key (unencrypted)`);
  }
  if (!x509.checkPrivateKey(keyObject)) throw new Error(`tls.key: ${own.key} does not belong to the certificate ${own.cert}`);
  const caPath = own.ca ?? own.cert;
  const ca = own.ca ? await readFile(own.ca, 'utf8') : cert;
  return { key, cert, ca, caPath, certPath: own.cert, keyPath: own.key, generated: false };
}

async function readOptional(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Writes through a temporary file and a rename: a crash never leaves half a key. */
async function writeAtomic(path: string, content: string, mode: number): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, content, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

function caUsable(certPem: string, keyPem: string): boolean {
  try {
    const x = new X509Certificate(certPem);
    return x.ca && x.checkPrivateKey(createPrivateKey(keyPem)) && Date.parse(x.validTo) > Date.now() + RENEW_BEFORE_MS;
  } catch {
    return false;
  }
}

function nodeCertUsable(certPem: string, keyPem: string, caPem: string, names: SanNames): boolean {
  try {
    const x = new X509Certificate(certPem);
    const ca = new X509Certificate(caPem);
    if (!x.checkIssued(ca) || !x.verify(ca.publicKey)) return false;
    if (!x.checkPrivateKey(createPrivateKey(keyPem))) return false;
    if (Date.parse(x.validTo) < Date.now() + RENEW_BEFORE_MS) return false;
    return (
      names.dns.every((d) => x.checkHost(d, { wildcards: false }) !== undefined) && names.ips.every((ip) => x.checkIP(ip) !== undefined)
    );
  } catch {
    return false;
  }
}

async function rsaKeyPair(): Promise<{ privatePem: string; publicPem: string }> {
  const { privateKey, publicKey } = await genKeyPair('rsa', { modulusLength: 2048 });
  return {
    privatePem: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

function serialNumber(): string {
  const b = randomBytes(16);
  b[0] = (b[0] as number) & 0x7f; // positive
  return b.toString('hex');
}

/** node-forge is loaded only when a certificate has to be made (first start, renewal). */
async function loadForge(): Promise<typeof forgeModule> {
  return (await import('node-forge')).default;
}

async function makeCa(): Promise<{ cert: string; key: string }> {
  const forge = await loadForge();
  const keys = await rsaKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(keys.publicPem);
  cert.serialNumber = serialNumber();
  const now = new Date();
  cert.validity.notBefore = new Date(now.getTime() - 3600_000);
  cert.validity.notAfter = new Date(now.getTime() + CA_YEARS * 365 * 24 * 3600_000);
  const subject = [
    { name: 'commonName', value: `Shoal CA ${hostname()}`.slice(0, 64) },
    { name: 'organizationName', value: 'Shoal' },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  const privateKey = forge.pki.privateKeyFromPem(keys.privatePem);
  cert.sign(privateKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: keys.privatePem };
}

async function makeNodeCert(caCertPem: string, caKeyPem: string, names: SanNames): Promise<{ cert: string; key: string }> {
  const forge = await loadForge();
  const keys = await rsaKeyPair();
  const ca = forge.pki.certificateFromPem(caCertPem);
  const caKey = forge.pki.privateKeyFromPem(caKeyPem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(keys.publicPem);
  cert.serialNumber = serialNumber();
  const now = new Date();
  cert.validity.notBefore = new Date(now.getTime() - 3600_000);
  cert.validity.notAfter = new Date(now.getTime() + NODE_DAYS * 24 * 3600_000);
  cert.setSubject([
    { name: 'commonName', value: (names.dns.find((d) => d !== 'localhost') ?? 'localhost').slice(0, 64) },
    { name: 'organizationName', value: 'Shoal' },
  ]);
  cert.setIssuer(ca.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: [...names.dns.map((value) => ({ type: 2, value })), ...names.ips.map((ip) => ({ type: 7, ip }))],
    },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: ca.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: keys.privatePem };
}
