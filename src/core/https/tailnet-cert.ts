/**
 * Tailscale's certificate for this node's own `*.ts.net` name (`--tailscale-cert on`), pure:
 * which names qualify, how tailscaled's `?type=pair` answer splits, and when to renew or retry.
 * The driver is src/routing/tailnet-cert.ts; the TLS front serves it for that SNI name.
 */
import { renewAt, type Validity } from './service-certs.ts';

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** tailscaled issues certificates only for MagicDNS names under ts.net. */
export const TAILNET_SUFFIX = '.ts.net';

/**
 * A name a TLS client may ask this node's Tailscale certificate for: `<host>.<tailnet>.ts.net`
 * (lower case, one trailing dot allowed), 253 characters at most. Anything else: null.
 */
export function tailnetCertName(servername: string | undefined | false): string | null {
  if (!servername) return null;
  let name = servername.toLowerCase();
  if (name.endsWith('.')) name = name.slice(0, -1);
  if (name.length > 253 || !name.endsWith(TAILNET_SUFFIX)) return null;
  const labels = name.split('.');
  // host, tailnet, "ts", "net" at least
  if (labels.length < 4 || !labels.every((l) => LABEL.test(l))) return null;
  return name;
}

/** The node's own name from tailscaled's status (`Self.DNSName`, "pi.tail1234.ts.net."). */
export function selfCertName(dnsName: string): string | null {
  return tailnetCertName(dnsName);
}

export interface PemPair {
  keyPem: string;
  /** the leaf first, then any intermediates, as tailscaled sends them */
  certPem: string;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n[\s\S]*?-----END \1-----\r?\n?/g;

/**
 * tailscaled's `GET /localapi/v0/cert/<domain>?type=pair` answer: the private key PEM block,
 * then the certificate chain's PEM blocks. Anything else is a one-line reason.
 */
export function splitPemPair(body: string): { ok: true; pair: PemPair } | { ok: false; error: string } {
  const blocks = [...body.matchAll(BLOCK)].map((m) => ({ type: m[1]!, text: m[0].endsWith('\n') ? m[0] : `${m[0]}\n` }));
  const keys = blocks.filter((b) => /PRIVATE KEY$/.test(b.type));
  const certs = blocks.filter((b) => b.type === 'CERTIFICATE');
  if (keys.length !== 1) return { ok: false, error: `expected one private key in the answer, found ${keys.length}` };
  if (certs.length === 0) return { ok: false, error: 'no certificate in the answer' };
  return { ok: true, pair: { keyPem: keys[0]!.text, certPem: certs.map((c) => c.text).join('') } };
}

/** Never sooner than this between two asks (a certificate that lives seconds must not spin). */
export const MIN_CHECK_MS = 1000;
/** setTimeout's ceiling: a 90-day certificate is looked at again after ~24.8 days, then scheduled anew. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * How long until the certificate should be fetched again: when a third of its lifetime is left
 * (as service certificates, core/https/service-certs.ts), bounded for timers.
 */
export function renewDelay(v: Validity, now: number): number {
  return Math.min(MAX_TIMER_MS, Math.max(MIN_CHECK_MS, renewAt(v) - now));
}

/**
 * `min_validity` for a renewal, in whole seconds: half the lifetime, more than the third left at
 * renewal time, so tailscaled must get a new certificate now instead of handing back the old one
 * while it renews in the background.
 */
export function renewalMinValiditySec(v: Validity): number {
  return Math.max(1, Math.ceil((v.notAfter - v.notBefore) / 2 / 1000));
}

/** After `failures` failed asks in a row: 5 s, 10 s, 20 s, ... at most 10 minutes. */
export function retryDelay(failures: number): number {
  return Math.min(600_000, 5000 * 2 ** Math.max(0, Math.min(failures - 1, 20)));
}
