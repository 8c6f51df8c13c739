import type { Etcd3 } from 'etcd3';
import { UserError } from '../core/errors.ts';
import {
  mintToken, shouldRecordUse, tokenDroppable, tokenIdOf, tokenVerdict, tokenView,
  type TokenRecord, type TokenScope, type TokenVerdict, type TokenView,
} from '../core/api-tokens.ts';
import { within } from '../system/within.ts';
import { KEYS } from './cluster-store.ts';
import { connectedClient, storeCall } from './store-call.ts';

/**
 * How long a node trusts a record it read without reading etcd again: a revocation on any node
 * takes effect everywhere within this (plus etcd's own replication, milliseconds).
 */
export const VERIFY_CACHE_MS = 2000;

/**
 * API tokens in etcd, so a token made on one node works on every node and a revocation anywhere
 * ends it everywhere. Only the token's hash is stored; a revoked token keeps its record (marked)
 * so the refusal can say "revoked" rather than "unknown".
 */
export class ApiTokens {
  private cache = new Map<string, { rec: TokenRecord | undefined; at: number }>();
  /** when this node last wrote each token's last-used time */
  private usedWritten = new Map<string, number>();

  constructor(
    private readonly client: () => Etcd3 | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  create(opts: { name: string; scope: TokenScope; expiresInMs?: number }): Promise<{ token: string; view: TokenView }> {
    return storeCall(async () => {
      const now = this.now();
      const { token, record } = mintToken(opts, now);
      await connectedClient(this.client).put(KEYS.apiTokenPrefix + record.id).value(JSON.stringify(record));
      return { token, view: tokenView(record, undefined, now) };
    });
  }

  /** Every token (active, expired, revoked); records ended long ago are dropped on the way. */
  list(): Promise<TokenView[]> {
    return storeCall(async () => {
      const etcd = connectedClient(this.client);
      const records = Object.values(await etcd.getAll().prefix(KEYS.apiTokenPrefix).strings()).map((v) => JSON.parse(v) as TokenRecord);
      const used = await etcd.getAll().prefix(KEYS.apiTokenUsedPrefix).strings();
      const now = this.now();
      const out: TokenView[] = [];
      for (const rec of records) {
        if (tokenDroppable(rec, now)) {
          await etcd.delete().key(KEYS.apiTokenPrefix + rec.id);
          await etcd.delete().key(KEYS.apiTokenUsedPrefix + rec.id);
          continue;
        }
        const last = used[KEYS.apiTokenUsedPrefix + rec.id];
        out.push(tokenView(rec, last === undefined ? undefined : Number(last), now));
      }
      return out.sort((a, b) => a.createdAt - b.createdAt);
    });
  }

  /** Marks a token revoked (in a transaction, so a concurrent change is not lost); 404 when unknown. */
  revoke(id: string): Promise<TokenView> {
    return storeCall(async () => {
      const etcd = connectedClient(this.client);
      const key = KEYS.apiTokenPrefix + id;
      for (let attempt = 0; attempt < 5; attempt++) {
        const text = await etcd.get(key).string();
        if (text === null) throw new UserError('not_found', `there is no API token "${id}" (see warren token ls)`, 404);
        const rec = JSON.parse(text) as TokenRecord;
        const now = this.now();
        if (rec.revokedAt !== undefined) return tokenView(rec, undefined, now);
        const revoked: TokenRecord = { ...rec, revokedAt: now };
        const res = await etcd.if(key, 'Value', '==', text).then(etcd.put(key).value(JSON.stringify(revoked))).commit();
        this.cache.delete(id);
        if (res.succeeded) return tokenView(revoked, undefined, now);
      }
      throw new UserError('conflict', `API token "${id}" kept changing while it was revoked: try again`, 409);
    });
  }

  /** The verdict on a presented token (cached briefly per id; a miss is read again for real). */
  verify(token: string): Promise<TokenVerdict> {
    return storeCall(async () => {
      const id = tokenIdOf(token);
      const now = this.now();
      if (!id) return tokenVerdict(undefined, token, now);
      const hit = this.cache.get(id);
      if (hit && now - hit.at <= VERIFY_CACHE_MS) return this.used(tokenVerdict(hit.rec, token, now), now);
      // serializable first (any member answers at once); anything but "ok" is read again through
      // the leader, so a member that lags a fresh token does not refuse it
      let rec = await this.read(id, true);
      let verdict = tokenVerdict(rec, token, now);
      if (!verdict.ok) {
        rec = await this.read(id, false);
        verdict = tokenVerdict(rec, token, now);
      }
      this.cache.set(id, { rec, at: now });
      if (this.cache.size > 1000) this.cache.delete(this.cache.keys().next().value!);
      return this.used(verdict, now);
    });
  }

  private async read(id: string, serializable: boolean): Promise<TokenRecord | undefined> {
    const text = await within(connectedClient(this.client).get(KEYS.apiTokenPrefix + id).serializable(serializable).string(), 1500, 'reading an API token');
    return text === null ? undefined : (JSON.parse(text) as TokenRecord);
  }

  /** Records the use of an accepted token now and then (never waits for it, never fails the request). */
  private used(verdict: TokenVerdict, now: number): TokenVerdict {
    if (verdict.ok && shouldRecordUse(this.usedWritten.get(verdict.id), now)) {
      this.usedWritten.set(verdict.id, now);
      const etcd = this.client();
      void etcd?.put(KEYS.apiTokenUsedPrefix + verdict.id).value(String(now)).exec().catch(() => this.usedWritten.delete(verdict.id));
    }
    return verdict;
  }
}
