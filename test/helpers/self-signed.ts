import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { randomBytes, webcrypto } from 'node:crypto';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

/**
 * A self-signed ECDSA P-256 certificate for one DNS name, valid from a second ago for
 * `lifetimeMs` (what the Tailscale stand-in hands out in place of Let's Encrypt's).
 */
export async function selfSignedCert(dnsName: string, lifetimeMs: number, now = Date.now()): Promise<{ certPem: string; keyPem: string }> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(8).toString('hex'),
    name: `CN=${dnsName}`,
    notBefore: new Date(now - 1000),
    notAfter: new Date(now + lifetimeMs),
    signingAlgorithm: alg,
    keys: keys as CryptoKeyPair,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: dnsName }])],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n?$/, '\n')}-----END PRIVATE KEY-----\n`;
  return { certPem: cert.toString('pem').replace(/\r\n/g, '\n').replace(/\n?$/, '\n'), keyPem };
}
