import { generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';

/** Test support: a throwaway CA and a server certificate for 127.0.0.1 signed by it (PEM). */
export interface TestTls {
  caPem: string;
  certPem: string;
  keyPem: string;
}

function keyPair(): { publicKey: forge.pki.rsa.PublicKey; privateKey: forge.pki.rsa.PrivateKey; privatePem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return {
    publicKey: forge.pki.publicKeyFromPem(publicKey),
    privateKey: forge.pki.privateKeyFromPem(privateKey),
    privatePem: privateKey,
  };
}

/** What to get wrong in the server certificate (to test the client's TLS messages). */
export interface TestTlsFlaws {
  /** names the certificate lists instead of 127.0.0.1 and localhost */
  hostName?: string;
  /** valid for a day that is over */
  expired?: boolean;
}

export function makeTestTls(commonName = 'shoal test CA', flaws: TestTlsFlaws = {}): TestTls {
  const caKeys = keyPair();
  const ca = forge.pki.createCertificate();
  ca.publicKey = caKeys.publicKey;
  ca.serialNumber = '01';
  ca.validity.notBefore = new Date(Date.now() - 60_000);
  ca.validity.notAfter = new Date(Date.now() + 24 * 3600_000);
  ca.setSubject([{ name: 'commonName', value: commonName }]);
  ca.setIssuer([{ name: 'commonName', value: commonName }]);
  ca.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
  ]);
  ca.sign(caKeys.privateKey, forge.md.sha256.create());

  const leafKeys = keyPair();
  const leaf = forge.pki.createCertificate();
  leaf.publicKey = leafKeys.publicKey;
  leaf.serialNumber = '02';
  leaf.validity.notBefore = new Date(Date.now() - (flaws.expired ? 2 * 24 * 3600_000 : 60_000));
  leaf.validity.notAfter = new Date(Date.now() + (flaws.expired ? -24 * 3600_000 : 24 * 3600_000));
  leaf.setSubject([{ name: 'commonName', value: flaws.hostName ?? '127.0.0.1' }]);
  leaf.setIssuer(ca.subject.attributes);
  leaf.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames:
        flaws.hostName !== undefined
          ? [{ type: 2, value: flaws.hostName }]
          : [
              { type: 7, ip: '127.0.0.1' },
              { type: 2, value: 'localhost' },
            ],
    },
  ]);
  leaf.sign(caKeys.privateKey, forge.md.sha256.create());
  return { caPem: forge.pki.certificateToPem(ca), certPem: forge.pki.certificateToPem(leaf), keyPem: leafKeys.privatePem };
}
