/**
 * `--tailscale-cert on`: this node's own `*.ts.net` name gets Tailscale's certificate (Let's
 * Encrypt, trusted by every browser with no CA to install), asked of tailscaled's LocalAPI and
 * served by the HTTPS front for that SNI name (in the agent, and in proxy workers through the
 * agent). Fetched at start, renewed when a third of its lifetime is left, retried with backoff
 * when tailscaled cannot give one; the last good certificate is served while it is valid.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import {
  renewDelay, renewalMinValiditySec, retryDelay, selfCertName, splitPemPair, tailnetCertName,
} from '../core/https/tailnet-cert.ts';
import { renewAt } from '../core/https/service-certs.ts';
import type { TailscaleStatus } from '../core/tailscale-status.ts';
import type { Logger } from '../system/logger.ts';
import { validityOf, type ServiceCert } from './service-certs.ts';

export interface TailnetCertOptions {
  api: {
    status(): Promise<TailscaleStatus>;
    certPair(domain: string, minValiditySec?: number): Promise<string>;
  };
  logger: Logger;
  now?: () => number;
}

/** How long a handshake waits for a certificate still being fetched (a first issuance can take longer). */
const HANDSHAKE_WAIT_MS = 10_000;

export class TailnetCert {
  private name: string | undefined;
  private cert: ServiceCert | undefined;
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<void> | undefined;
  private failures = 0;
  private stopped = false;
  /** certificates received from tailscaled (a renewal adds one) */
  fetched = 0;
  private readonly now: () => number;

  constructor(private readonly o: TailnetCertOptions) {
    this.now = o.now ?? Date.now;
  }

  start(): void {
    void this.refresh();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** This node's `*.ts.net` name, once tailscaled told it. */
  get domain(): string | undefined {
    return this.name;
  }

  /** The certificate for `servername` when it is this node's tailnet name; else undefined. */
  async get(servername: string): Promise<ServiceCert | undefined> {
    const name = tailnetCertName(servername);
    if (!name) return undefined;
    if (!this.valid() && this.inflight) await Promise.race([this.inflight, new Promise((r) => setTimeout(r, HANDSHAKE_WAIT_MS).unref())]);
    return name === this.name ? this.valid() : undefined;
  }

  private valid(): ServiceCert | undefined {
    return this.cert && this.now() < this.cert.notAfter ? this.cert : undefined;
  }

  private refresh(): Promise<void> {
    this.inflight ??= this.fetch().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.refresh(), ms);
    this.timer.unref();
  }

  private async fetch(): Promise<void> {
    try {
      if (!this.name) {
        const status = await this.o.api.status();
        const dnsName = status.Self?.DNSName ?? '';
        const name = selfCertName(dnsName);
        if (!name) throw new Error(`this node's tailnet name "${dnsName}" is not a *.ts.net name (is MagicDNS on, and tailscaled logged in?)`);
        this.name = name;
      }
      const renewing = this.cert;
      const body = await this.o.api.certPair(this.name, renewing ? renewalMinValiditySec(renewing) : undefined);
      const split = splitPemPair(body);
      if (!split.ok) throw new Error(`tailscaled's certificate answer: ${split.error}`);
      const leaf = new X509Certificate(split.pair.certPem);
      if (!leaf.checkHost(this.name)) throw new Error(`tailscaled's certificate is not for ${this.name} (${leaf.subjectAltName ?? leaf.subject})`);
      if (!leaf.checkPrivateKey(createPrivateKey(split.pair.keyPem))) throw new Error("tailscaled's certificate does not match its key");
      const cert: ServiceCert = { name: this.name, ...split.pair, ...validityOf(split.pair.certPem) };
      if (this.now() >= cert.notAfter) throw new Error(`tailscaled's certificate for ${this.name} expired at ${new Date(cert.notAfter).toISOString()}`);
      const changed = this.cert?.certPem !== cert.certPem;
      this.cert = cert;
      // the same certificate again, already due: tailscaled could not renew it (back off, keep serving it)
      if (!changed && this.now() >= renewAt(cert)) throw new Error(`tailscaled handed back the certificate for ${this.name} that is due for renewal`);
      this.failures = 0;
      if (changed) {
        this.fetched++;
        this.o.logger.info({ name: this.name, notAfter: new Date(cert.notAfter).toISOString(), renewal: renewing !== undefined }, 'https: serving Tailscale\'s certificate for this node\'s tailnet name');
      }
      this.schedule(renewDelay(cert, this.now()));
    } catch (err) {
      this.failures++;
      const retryMs = retryDelay(this.failures);
      this.o.logger.warn({ err: (err as Error).message, retryMs, serving: this.valid() !== undefined }, 'https: could not get Tailscale\'s certificate');
      this.schedule(retryMs);
    }
  }
}
