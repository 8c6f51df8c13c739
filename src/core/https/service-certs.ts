/**
 * HTTPS for services: which name a TLS client asked for (SNI), and when a service certificate
 * must be renewed. Pure: the clock comes in as `now`.
 */

/** Service certificates live 90 days (as ACME's do); they are renewed with a third left. */
export const SERVICE_CERT_LIFETIME_MS = 90 * 24 * 60 * 60 * 1000;

export interface Validity {
  /** ms since the epoch */
  notBefore: number;
  notAfter: number;
}

/**
 * When a certificate is due for renewal: once less than a third of its lifetime remains
 * (Let's Encrypt's advice for 90-day certificates: renew at 60 days). Leaves a whole third of
 * the lifetime to retry in, and every node computes the same instant from the same certificate.
 */
export function renewAt(v: Validity): number {
  return v.notAfter - Math.floor((v.notAfter - v.notBefore) / 3);
}

export function needsRenewal(v: Validity, now: number): boolean {
  return now >= renewAt(v);
}

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * The service a TLS client named: `<service>.<domain>` (case-insensitive, one trailing dot
 * allowed) with `<service>` one DNS label. Anything else (no SNI, an IP, another domain, a
 * deeper name) names no service: such a handshake gets no certificate at all.
 */
export function serviceForServername(servername: string | undefined | false, domain: string): string | null {
  if (!servername) return null;
  let name = servername.toLowerCase();
  if (name.endsWith('.')) name = name.slice(0, -1);
  const suffix = `.${domain.toLowerCase().replace(/^\.+|\.+$/g, '')}`;
  if (!name.endsWith(suffix)) return null;
  const label = name.slice(0, -suffix.length);
  return LABEL.test(label) ? label : null;
}

/** The DNS name a service's certificate is issued for. */
export function serviceHostname(service: string, domain: string): string {
  return `${service}.${domain.toLowerCase().replace(/^\.+|\.+$/g, '')}`;
}

/**
 * Where an HTTP request for a service that asks for HTTPS is sent: the same host (without its
 * port) and path on the HTTPS port (omitted when it is 443).
 */
export function httpsRedirectLocation(host: string, path: string, httpsPort: number): string {
  let h = host.trim();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    h = end > 0 ? h.slice(0, end + 1) : h;
  } else {
    const colon = h.lastIndexOf(':');
    if (colon >= 0) h = h.slice(0, colon);
  }
  const p = path.startsWith('/') ? path : `/${path}`;
  return `https://${h}${httpsPort === 443 ? '' : `:${httpsPort}`}${p}`;
}
