/** The pure parts of the volumes views (no DOM, no connection): unit-tested in test/unit/ui-volumes.test.ts. */
import type { WarrenEvent } from '../core/gossip-messages.ts';
import type { MemberView } from '../core/views.ts';
import type { SnapshotListItem } from '../runtime/volume-api.ts';
import { ago } from './format.ts';

/**
 * Data at risk at or above this is shown as a problem: 15 of the agent's default snapshot
 * intervals (2 s), so a replica that stopped shipping stands out, a slow transfer does not.
 */
export const HIGH_RISK_MS = 30_000;

/** Events after which `GET /v1/volumes` may answer differently (copies, owners, liveness, new volumes). */
export function changesVolumes(e: Pick<WarrenEvent, 'name'>): boolean {
  return /^(volume|node|service)\./.test(e.name);
}

/** Events after which one volume's snapshot list may differ (a new one, one more copy, a restore). */
export function changesSnapshots(e: Pick<WarrenEvent, 'name' | 'payload'>, volume: string): boolean {
  return e.name.startsWith('volume.') && (e.payload as { volume?: unknown } | null)?.volume === volume;
}

/** The members' states in one string: a change means copies may have gone live or dead. */
export function memberKey(members: readonly Pick<MemberView, 'id' | 'state'>[]): string {
  return members.map((m) => `${m.id}:${m.state}`).sort().join(' ');
}

/**
 * An age the API measured `fetchedAgo` ms ago, as it is now: ages and data at risk grow until the
 * next snapshot reaches the copies (then an event brings the new figures).
 */
export const ageNow = (ageMs: number, fetchedAt: number, now: number): number => ageMs + Math.max(0, now - fetchedAt);

/** Data at risk for people: seconds (one decimal) under a minute, then 3m, 2h, ... */
export function riskText(atRiskMs: number | null): string {
  if (atRiskMs === null) return 'all (no second copy yet)';
  return atRiskMs < 60_000 ? `${(atRiskMs / 1000).toFixed(1)} s` : ago(atRiskMs);
}

/** 'high' when the data is on fewer than 2 live nodes, or their common point is old. */
export function riskLevel(atRiskMs: number | null): 'high' | 'ok' {
  return atRiskMs === null || atRiskMs >= HIGH_RISK_MS ? 'high' : 'ok';
}

/** A copy's node as the live snapshot sees it ('unknown': not a member the page knows). */
export function nodeState(members: readonly Pick<MemberView, 'name' | 'state'>[], node: string): string {
  return members.find((m) => m.name === node)?.state ?? 'unknown';
}

/** Newest first: by epoch (a restore or take-over starts a new one), then sequence. */
export function newestFirst(list: readonly SnapshotListItem[]): SnapshotListItem[] {
  return [...list].sort((a, b) => b.epoch - a.epoch || b.seq - a.seq);
}

/** "12:03:04 (5m ago)" today, the date too before that. */
export function whenText(t: number, now: number): string {
  const d = new Date(t);
  const day = d.toDateString() === new Date(now).toDateString();
  return `${day ? d.toLocaleTimeString() : d.toLocaleString()} (${ago(now - t)} ago)`;
}

/** A snapshot named in an API answer: its id, whether the answer gives the id or the record. */
export function snapshotId(s: unknown): string {
  if (typeof s === 'string') return s;
  const id = (s as { id?: unknown } | null)?.id;
  return typeof id === 'string' ? id : '?';
}

/** Which field of the clone form an API refusal is about ('form': none of them). */
export function cloneErrorField(code: string, message: string): 'name' | 'form' {
  return /^(new )?name\b/i.test(message) || /name|exists|volume_in_use|conflict/.test(code) ? 'name' : 'form';
}

