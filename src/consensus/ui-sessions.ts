import type { Etcd3 } from 'etcd3';
import { nanoid } from 'nanoid';
import { UserError } from '../core/errors.ts';
import {
  SESSION_TTL_MS, TICKET_TTL_MS, newTicketRecord, randomSecret, sessionIdOf, sessionMatches, sessionToken, sha256, ticketVerdict,
  type SessionRecord, type TicketRecord,
} from '../core/ui-auth.ts';
import { within } from '../system/within.ts';
import { KEYS } from './cluster-store.ts';
import { connectedClient, storeCall } from './store-call.ts';

/** A verified session, as requests carry it. */
export interface UiSession {
  id: string;
  readOnly: boolean;
}

/** How long a verified session is trusted without reading etcd again (revocation takes this long). */
const VERIFY_CACHE_MS = 2000;
/** Used or expired tickets are kept this long (so a second use says "used", not "unknown"). */
const TICKET_KEEP_MS = 10 * 60_000;

/**
 * Login tickets and sessions in etcd, so every node accepts what any node issued. A ticket is
 * traded in one transaction that compares its record unchanged, marks it used and writes the
 * session: of two racing logins exactly one wins.
 */
export class UiSessions {
  private cache = new Map<string, { rec: SessionRecord | undefined; at: number }>();

  constructor(
    private readonly client: () => Etcd3 | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  private store<T>(work: () => Promise<T>): Promise<T> {
    return storeCall(work);
  }

  private etcd(): Etcd3 {
    return connectedClient(this.client);
  }

  createTicket(readOnly: boolean): Promise<{ ticket: string; expiresAt: number }> {
    return this.store(() => this.createTicketNow(readOnly));
  }

  /**
   * A one-time ticket that moves `session` to a page served by another node (a page's policy
   * reaches only the members it was loaded with): trading it ends `session` and starts one with
   * the same rights and expiry, so a session never multiplies nor outlives itself.
   */
  moveTicket(session: UiSession): Promise<{ ticket: string; expiresAt: number }> {
    return this.store(() => this.createTicketNow(session.readOnly, session.id));
  }

  redeem(ticket: string, via: string): Promise<{ token: string; session: SessionRecord }> {
    return this.store(() => this.redeemNow(ticket, via));
  }

  verify(token: string): Promise<UiSession | undefined> {
    return this.store(() => this.verifyNow(token));
  }

  list(): Promise<Omit<SessionRecord, 'hash'>[]> {
    return this.store(() => this.listNow());
  }

  revoke(id: string): Promise<boolean> {
    return this.store(() => this.revokeNow(id));
  }

  private async createTicketNow(readOnly: boolean, moves?: string): Promise<{ ticket: string; expiresAt: number }> {
    const etcd = this.etcd();
    await this.sweepTickets(etcd);
    const ticket = randomSecret();
    const rec = newTicketRecord(readOnly, this.now(), moves);
    await etcd.put(KEYS.uiTicketPrefix + sha256(ticket)).value(JSON.stringify(rec));
    return { ticket, expiresAt: rec.expiresAt };
  }

  /** Trades a ticket for a session; throws UserError 401 with the reason when it may not. */
  private async redeemNow(ticket: string, via: string): Promise<{ token: string; session: SessionRecord }> {
    const etcd = this.etcd();
    const key = KEYS.uiTicketPrefix + sha256(ticket);
    const text = await etcd.get(key).string();
    const rec = text === null ? undefined : (JSON.parse(text) as TicketRecord);
    const verdict = ticketVerdict(rec, this.now());
    if (!verdict.ok) throw new UserError(verdict.code, verdict.message, 401);
    const id = nanoid(12).replace(/[^A-Za-z0-9]/g, 'x');
    const token = sessionToken(id, randomSecret());
    const now = this.now();
    // a move ticket: the session it moves must still be valid, and ends in the same transaction
    const movedKey = rec!.moves === undefined ? undefined : KEYS.uiSessionPrefix + rec!.moves;
    const movedText = movedKey === undefined ? null : await etcd.get(movedKey).string();
    const moved = movedText === null ? undefined : (JSON.parse(movedText) as SessionRecord);
    if (movedKey !== undefined && (!moved || now >= moved.expiresAt)) throw new UserError('session_invalid', 'the session this link moves has ended (revoked or expired): run "warren ui" for a new login link', 401);
    const session: SessionRecord = { id, hash: sha256(token), readOnly: rec!.readOnly, createdAt: now, expiresAt: moved?.expiresAt ?? now + SESSION_TTL_MS, via };
    let txn = etcd.if(key, 'Value', '==', text!);
    if (movedKey !== undefined) txn = txn.and(movedKey, 'Value', '==', movedText!);
    const res = await txn
      .then(
        etcd.put(key).value(JSON.stringify({ ...rec, usedAt: now })),
        etcd.put(KEYS.uiSessionPrefix + id).value(JSON.stringify(session)),
        ...(movedKey === undefined ? [] : [etcd.delete().key(movedKey)]),
      )
      .commit();
    if (movedKey !== undefined) this.cache.delete(rec!.moves!);
    if (!res.succeeded) {
      // another login traded it between our read and our write
      const lost = ticketVerdict({ ...rec!, usedAt: now }, now);
      if (!lost.ok) throw new UserError(lost.code, lost.message, 401);
    }
    return { token, session };
  }

  /** The session a bearer token stands for, or undefined (unknown, revoked, expired or forged). */
  private async verifyNow(token: string): Promise<UiSession | undefined> {
    const id = sessionIdOf(token);
    if (!id) return undefined;
    const now = this.now();
    const hit = this.cache.get(id);
    if (hit && now - hit.at <= VERIFY_CACHE_MS && sessionMatches(hit.rec, token, now)) return { id, readOnly: hit.rec!.readOnly };
    // serializable first: any member answers (a page failing over must not wait for a quorum
    // read); a miss there may be a member that lags a fresh login, so a miss is read again for real
    let rec = await this.read(id, true);
    if (!sessionMatches(rec, token, now)) rec = await this.read(id, false);
    if (!sessionMatches(rec, token, now)) {
      this.cache.delete(id);
      return undefined;
    }
    this.cache.set(id, { rec, at: now });
    if (this.cache.size > 1000) this.cache.delete(this.cache.keys().next().value!);
    return { id, readOnly: rec!.readOnly };
  }

  private async read(id: string, serializable: boolean): Promise<SessionRecord | undefined> {
    const text = await within(this.etcd().get(KEYS.uiSessionPrefix + id).serializable(serializable).string(), 1500, 'reading a UI session');
    return text === null ? undefined : (JSON.parse(text) as SessionRecord);
  }

  /** The sessions still valid (expired ones are deleted on the way). */
  private async listNow(): Promise<Omit<SessionRecord, 'hash'>[]> {
    const etcd = this.etcd();
    const all = Object.values(await etcd.getAll().prefix(KEYS.uiSessionPrefix).strings()).map((v) => JSON.parse(v) as SessionRecord);
    const now = this.now();
    for (const s of all.filter((x) => now >= x.expiresAt)) await etcd.delete().key(KEYS.uiSessionPrefix + s.id);
    return all
      .filter((x) => now < x.expiresAt)
      .map(({ hash: _hash, ...rest }) => rest)
      .sort((a, b) => a.createdAt - b.createdAt);
  }

  /** false: there was no such session. */
  private async revokeNow(id: string): Promise<boolean> {
    this.cache.delete(id);
    const res = await this.etcd().delete().key(KEYS.uiSessionPrefix + id).exec();
    return Number(res.deleted) > 0;
  }

  /** Forgets tickets long past their expiry (expired sessions go when sessions are listed). */
  private async sweepTickets(etcd: Etcd3): Promise<void> {
    const all = await etcd.getAll().prefix(KEYS.uiTicketPrefix).strings();
    const cutoff = this.now() - TICKET_TTL_MS - TICKET_KEEP_MS;
    for (const [key, v] of Object.entries(all)) if ((JSON.parse(v) as TicketRecord).createdAt < cutoff) await etcd.delete().key(key);
  }
}
