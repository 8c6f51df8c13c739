/**
 * Membership and failure detection as a pure, synchronous state machine (SWIM/Lifeguard-inspired,
 * adapted to Warren's gossip heartbeats).
 *
 * No timers, sockets, clocks or randomness in here: every input carries the driver's `now` (ms,
 * ideally from a monotonic clock such as `performance.now()` + a fixed offset), and every decision
 * comes back as an `Output` for the driver to perform. The driver:
 *   - feeds `heartbeat()` for every heartbeat/announcement received on `warren/membership`,
 *   - calls `tick(now)` every ~100 ms (see "Timing" below),
 *   - performs `probe` outputs (libp2p ping; for `indirect`, asks each `via` member to ping the
 *     target) and reports them with `probeResult()`,
 *   - gossips `broadcast` outputs as rumors and feeds rumors it receives to `rumor()`,
 *   - on `refute`, immediately announces itself alive with the new incarnation (and uses
 *     `self.incarnation` in every later heartbeat),
 *   - maps `state` outputs to cluster events (unknown→alive = node.joined, →suspect = node.suspect,
 *     →dead = node.dead, →left = node.left).
 * A graceful stop that expects to come back (SIGTERM: a restart, an upgrade) is not a leave: the
 * node falls silent like a dead one, and src/core/membership/restart-hold.ts decides, beside this
 * machine, whether its replicas are held ('restarting') or fail over.
 *
 * ## States and incarnations
 * Members are 'alive' | 'suspect' | 'dead' | 'left'. Only a node itself raises its incarnation;
 * the driver starts it from a value that grows across restarts (e.g. `Date.now()` at start), so a
 * restarted node always comes back with a higher incarnation. Precedence (standard SWIM):
 *   - alive@i   overrides suspect/dead/left@j when i > j (and refreshes alive@j when i > j);
 *   - suspect@i overrides alive@j when i >= j (and suspect@j when i > j);
 *   - dead@i    overrides alive/suspect@j when i >= j (and dead/left@j when i > j);
 *   - left@i    overrides alive/suspect/dead@j when i >= j — it is final for that incarnation.
 * Dead and left are final for their incarnation: only a heartbeat (or alive rumor) with a HIGHER
 * incarnation brings a node back; a successful probe never does. A heartbeat of the dead
 * incarnation makes the machine tell the node its verdict (`tell`, at most once a second per
 * node; only the node itself acts on it) so that a node declared dead behind a partition hears it
 * and refutes.
 *
 * ## Evidence and suspicion
 * First-hand evidence of life is a heartbeat from the node itself, an alive rumor originated by
 * the node itself (its refutation), or a successful probe this machine asked for (dated at the
 * moment the probe was SENT, since the answer proves life at some point after that).
 *   - `lastHeardAt` = time of the newest evidence (or of a reset: revival, local clock pause).
 *   - Once `now - lastHeardAt >= suspectAfterMs` a probe round starts: a direct probe; if it fails
 *     or times out (`probeTimeoutMs`), an indirect probe through up to `indirectProbes` alive
 *     members; if that fails or times out too, the round has failed. Rounds repeat while silent.
 *   - A failed round makes an alive node 'suspect' (a *local* suspicion) and emits a broadcast.
 *   - A suspect node becomes 'dead' (with a broadcast) on a tick where ALL hold: a probe round has
 *     failed since the last evidence, `now - lastHeardAt >= deadAfterMs`, and it has been suspect
 *     for at least `minSuspectMs` (so it has a moment to refute).
 *   - Fresh evidence with the same incarnation clears a LOCAL suspicion (our own silence
 *     measurement was simply contradicted). A suspicion learned from a RUMOR at incarnation k is
 *     only cleared by the node's refutation (incarnation > k), per SWIM precedence; meanwhile
 *     fresh evidence still keeps it from being declared dead locally.
 *   - Rumors never make this machine declare 'dead' by itself except a 'dead' rumor, which is
 *     accepted (incarnation >= known) so that the cluster agrees; the node refutes it if alive.
 *     Except against our own fresh evidence: a 'dead' rumor about an alive node whose heartbeat
 *     of that same incarnation we had within `suspectAfterMs` only makes it suspect. A member
 *     that was cut off must not, when it comes back, kill healthy nodes with the verdicts it
 *     reached while it could hear nobody.
 *   - Alive/suspect rumors about unknown nodes are ignored (joining takes a first-hand heartbeat);
 *     dead/left rumors about unknown nodes leave a tombstone so that late heartbeats of that
 *     incarnation do not make the node "join".
 *
 * ## Timing (defaults, see DEFAULT_DETECTOR_CONFIG)
 * Requirements: (a) a kill -9'd node is declared dead within 2 s of its last heartbeat;
 * (b) a 1.5 s SIGSTOP (a node silent for 1.5 s that then heartbeats again) is never declared dead.
 * A stopped process answers no pings either, so probes cannot tell (b) from (a): the silence
 * threshold for 'dead' alone must separate them, i.e. 1.5 s + margin < deadAfterMs <= 2 s - lag.
 *   - heartbeatIntervalMs 250: the receiver-side gap caused by a 1.5 s stop is at most
 *     1500 + 250 (the stop may begin just before a heartbeat was due) = 1750 ms + delivery latency.
 *   - deadAfterMs 1850: > 1750 with 100 ms left for delivery latency, and with the driver ticking
 *     every <= 100 ms a dead node is declared at <= 1850 + 100 = 1950 ms (<= 2000) after its last
 *     heartbeat.
 *   - suspectAfterMs 1000, probeTimeoutMs 250: probing starts 1 s into the silence (4 missed
 *     heartbeats); with timeouts the round fails at ~1500 ms (1000 + 250 direct + 250 indirect,
 *     plus tick lag: <= ~1700 ms with 100 ms ticks), so the node is suspect before deadAfterMs.
 *   - minSuspectMs 200: suspect at <= ~1700 ms + 200 <= 1900 ms, still within the 2 s bound.
 *   - maxTickGapMs 5000: two consecutive ticks further apart than this mean THIS machine was
 *     paused (laptop suspend, SIGSTOP, debugger): every member's `lastHeardAt` is reset to now and
 *     outstanding probes dropped instead of judging everybody at once. Shorter local stalls cannot
 *     kill anybody either, since 'dead' needs a probe round that FAILED after the silence began.
 * So: silence <= 1750 ms is never 'dead'; permanent silence with failing probes is 'dead' after
 * 1850 ms + one tick interval (exactly 2000 ms with 250 ms ticks aligned to the heartbeat).
 *
 * ## Size
 * Every node heartbeats to every other, so each receives (size - 1) / heartbeatIntervalMs
 * messages a second: quadratic in the cluster size overall. Beyond `scaleFromMembers` nodes
 * (counting itself and the members it holds alive or suspect), the machine stretches the heartbeat
 * interval and the silence thresholds by size / scaleFromMembers (at most `maxScale`), which keeps
 * what each node receives constant: a 16-node cluster heartbeats every 500 ms and declares a
 * node dead after 3.7 s of silence; from 32 nodes, every 1 s and 7.4 s. Probe timeouts and
 * minSuspectMs are not stretched (a ping's round trip does not grow with the cluster).
 * Nodes whose views differ in size during a change still agree well enough: a sender stretches
 * its interval at most `maxScale` (4) times, and every receiver suspects only after 4 intervals
 * of its own.
 *
 * ## Local stalls
 * A machine whose own event loop stalls (an overloaded CPU, a long GC) measures silences that
 * are not there: when it runs again, its timers fire before it has read the heartbeats waiting
 * in its sockets, and it would suspect, and after failed probes kill, healthy members all at
 * once (as Lifeguard observed of SWIM). So the driver reports with every tick how late the tick
 * fired; for STALL_MEMORY_MS after a stall of L ms (ignored below STALL_FLOOR_MS), this machine
 * starts probing only after suspectAfter + 2L of silence, declares dead only after
 * deadAfter + 2L, and gives each probe phase L more time. An idle machine is unaffected.
 *
 * ## Clock
 * `now` going backwards by up to `maxTickGapMs` is clamped (time stands still until it catches up);
 * a bigger backwards jump is treated like a pause (all timers reset to now). Only `tick` declares
 * suspect-by-timeout/dead or starts probes; the other inputs react to what they carry.
 *
 * ## Self
 * The local node is NOT a member of its own table: `list()` and `get(selfId)` never include it
 * (the driver adds itself to views); `self` gives its id and current incarnation. Heartbeats,
 * leaves and rumors ORIGINATED by the local node (echoes) are ignored; rumors ABOUT it that could
 * hurt it (suspect/dead/left at >= its incarnation, alive above it) make it refute.
 *
 * Malformed network data (negative/non-integer incarnation, empty ids, unknown states) is
 * ignored; a non-finite `now` is a driver bug and throws.
 */
import { DEFAULT_DETECTOR_CONFIG, STALL_FLOOR_MS, STALL_MEMORY_MS, validateConfig, type DetectorConfig } from './membership/config.ts';
import { evidence, leaveOf, newEntry, rumorAbout, setState } from './membership/precedence.ts';
import { directRound, escalate, failRound, helpersFor } from './membership/probing.ts';
import { byId, isId, isIncarnation, snapshot, STATES, type Entry, type HeartbeatInput, type LeaveInput, type MemberSnapshot, type MembershipOptions, type Output, type ProbeResultInput, type ProbeRound, type RumorInput } from './membership/types.ts';

// the machine's parts live in src/core/membership/; importers use this file for all of them
export { DEFAULT_DETECTOR_CONFIG, STALL_FLOOR_MS, STALL_MEMORY_MS, type DetectorConfig } from './membership/config.ts';
export type { HeartbeatInput, LeaveInput, MemberSnapshot, MemberState, MembershipOptions, MembershipOutput, Output, ProbeMode, ProbeResultInput, RumorInput } from './membership/types.ts';

export class Membership<TInfo = unknown> {
  readonly selfId: string;
  readonly config: Readonly<DetectorConfig>;
  private selfIncarnation: number;
  private readonly members = new Map<string, Entry<TInfo>>();
  /** Highest incarnation known to be dead/left for ids not (or no longer) in the table. */
  private readonly tombstones = new Map<string, number>();
  private now_: number | undefined;
  private lastTickAt: number | undefined;
  /** the longest recent stall of this machine's own event loop, and when it was reported */
  private stall: { ms: number; at: number } | undefined;

  constructor(opts: MembershipOptions) {
    if (!isId(opts.selfId)) throw new TypeError('selfId must be a non-empty string');
    const incarnation = opts.incarnation ?? 0;
    if (!isIncarnation(incarnation)) throw new RangeError('incarnation must be a non-negative integer');
    const config = { ...DEFAULT_DETECTOR_CONFIG, ...(opts.config ?? {}) };
    validateConfig(config);
    this.selfId = opts.selfId;
    this.selfIncarnation = incarnation;
    this.config = Object.freeze(config);
  }

  // ---------------------------------------------------------------- queries

  /** The local node: its id and current incarnation (use it in every heartbeat). */
  get self(): { id: string; incarnation: number } {
    return { id: this.selfId, incarnation: this.selfIncarnation };
  }

  /** The machine's current time (driver clock after clamping), undefined before any input. */
  get clock(): number | undefined {
    return this.now_;
  }

  /**
   * How much the timings are stretched for the cluster's current size (1 up to
   * `scaleFromMembers` nodes): see "Size" in the module comment.
   */
  get scale(): number {
    const c = this.config;
    if (c.scaleFromMembers === 0) return 1;
    let size = 1;
    for (const e of this.members.values()) if (e.state === 'alive' || e.state === 'suspect') size++;
    return Math.min(c.maxScale, Math.max(1, size / c.scaleFromMembers));
  }

  get(id: string): MemberSnapshot<TInfo> | undefined {
    const e = this.members.get(id);
    return e ? snapshot(e) : undefined;
  }

  /** Every known member except the local node, sorted by id. */
  list(): MemberSnapshot<TInfo>[] {
    return this.sorted().map(snapshot);
  }

  // ----------------------------------------------------------------- inputs

  /** A heartbeat/announcement received from `from` itself. */
  heartbeat(from: string, input: HeartbeatInput<TInfo>): Output[] {
    const t = this.advance(input.now);
    const out: Output[] = [];
    if (!isId(from) || !isIncarnation(input.incarnation) || from === this.selfId) return out;
    this.onEvidence(from, input.incarnation, t, input, out);
    return out;
  }

  /**
   * Clock tick: starts/escalates probes, declares suspect (timeouts) and dead. `lagMs`: how late
   * the driver's tick timer fired, i.e. how long this machine's own event loop was stalled (see
   * "Local stalls" in the module comment).
   */
  tick(now: number, lagMs = 0): Output[] {
    const t = this.advance(now);
    const out: Output[] = [];
    const c = this.config;
    if (this.lastTickAt !== undefined && t - this.lastTickAt > c.maxTickGapMs) this.reset(t);
    this.lastTickAt = t;
    this.noteStall(t, lagMs);
    const suspectAfter = this.suspectAfter(t);
    const deadAfter = c.deadAfterMs * this.scale + 2 * this.stallMs(t);
    for (const e of this.sorted()) {
      if (e.state !== 'alive' && e.state !== 'suspect') continue;
      const silence = t - e.lastHeardAt;
      if (
        e.state === 'suspect' &&
        e.failedRoundAt !== null &&
        silence >= deadAfter &&
        t - e.stateSince >= c.minSuspectMs
      ) {
        setState(e, 'dead', e.incarnation, t, out);
        out.push({ type: 'broadcast', about: e.id, state: 'dead', incarnation: e.incarnation });
        continue;
      }
      const r = e.round;
      if (r && !r.done && t >= r.deadline) {
        if (r.phase === 'direct') this.escalate(e, r, t, out);
        else failRound(e, r, t, out);
      }
      if ((!e.round || e.round.done) && silence >= suspectAfter) {
        e.round = directRound(t, t + c.probeTimeoutMs + this.stallMs(t));
        out.push({ type: 'probe', target: e.id, mode: 'direct' });
      }
    }
    return out;
  }

  /** The outcome of a probe this machine asked for (results of probes it did not ask for are ignored). */
  probeResult(target: string, input: ProbeResultInput): Output[] {
    const t = this.advance(input.now);
    const out: Output[] = [];
    const e = this.members.get(target);
    if (!e || (e.state !== 'alive' && e.state !== 'suspect')) return out;
    const r = e.round;
    if (!r) return out;
    const sentAt = input.via === 'direct' ? r.directSentAt : input.via === 'indirect' ? r.indirectSentAt : null;
    if (sentAt === null) return out;
    if (input.ok === true) {
      r.done = true;
      e.failedRoundAt = null;
      if (sentAt > e.lastHeardAt) e.lastHeardAt = sentAt;
      if (e.state === 'suspect' && e.suspicion === 'local') setState(e, 'alive', e.incarnation, t, out);
      return out;
    }
    if (r.done) return out;
    if (input.via === 'direct') {
      if (r.phase === 'direct') this.escalate(e, r, t, out);
      return out;
    }
    if (r.phase !== 'indirect') return out;
    if (input.helper === undefined) {
      failRound(e, r, t, out);
    } else if (r.via.includes(input.helper)) {
      r.failedHelpers.add(input.helper);
      if (r.failedHelpers.size >= r.via.length) failRound(e, r, t, out);
    }
    return out;
  }

  /** Another node's (gossiped) claim about member `about`. */
  rumor(about: string, input: RumorInput): Output[] {
    const t = this.advance(input.now);
    const out: Output[] = [];
    const { state, incarnation: i, from } = input;
    if (!isId(about) || !isId(from) || !STATES.has(state) || !isIncarnation(i)) return out;
    if (from === this.selfId) return out; // our own rumor coming back
    if (about === this.selfId) {
      const harmful = state === 'alive' ? i > this.selfIncarnation : i >= this.selfIncarnation;
      if (harmful) {
        this.selfIncarnation = i + 1;
        out.push({ type: 'refute', incarnation: this.selfIncarnation });
      }
      return out;
    }
    if (from === about && state === 'alive') {
      this.onEvidence(about, i, t, {}, out); // the node's own refutation: first-hand
      return out;
    }
    if (from === about && state === 'left') return this.leave(about, { incarnation: i, now: t });

    const e = this.members.get(about);
    if (!e) {
      if (state === 'dead' || state === 'left') this.tombstone(about, i);
      return out;
    }
    rumorAbout(e, state, i, t, t - e.lastHeardAt < this.suspectAfter(t), out);
    return out;
  }

  /**
   * A graceful leave announced by `from` itself -> 'left' (final for that incarnation). A leave from
   * an unknown node only leaves a tombstone, so its late heartbeats of that incarnation are ignored.
   */
  leave(from: string, input: LeaveInput): Output[] {
    const t = this.advance(input.now);
    const out: Output[] = [];
    const i = input.incarnation;
    if (!isId(from) || !isIncarnation(i) || from === this.selfId) return out;
    const e = this.members.get(from);
    if (!e) {
      this.tombstone(from, i);
      return out;
    }
    leaveOf(e, i, t, out);
    return out;
  }

  /**
   * Forget a member (e.g. long dead). A dead/left member leaves a tombstone so that stale messages
   * of its incarnation cannot make it join again; a higher incarnation still can.
   */
  remove(id: string): Output[] {
    const e = this.members.get(id);
    if (e) {
      this.members.delete(id);
      this.order = undefined;
      if (e.state === 'dead' || e.state === 'left') this.tombstone(id, e.incarnation);
    }
    return [];
  }

  // -------------------------------------------------------------- internals

  /** Silence after which probing starts: stretched with the size and by a recent local stall. */
  private suspectAfter(t: number): number {
    return this.config.suspectAfterMs * this.scale + 2 * this.stallMs(t);
  }

  private noteStall(t: number, lagMs: number): void {
    if (!(Number.isFinite(lagMs) && lagMs >= STALL_FLOOR_MS)) return;
    if (lagMs >= this.stallMs(t)) this.stall = { ms: lagMs, at: t };
  }

  /** The longest local stall within the last STALL_MEMORY_MS (0 when none above the floor). */
  private stallMs(t: number): number {
    const s = this.stall;
    return s !== undefined && t - s.at < STALL_MEMORY_MS ? s.ms : 0;
  }

  private advance(now: number): number {
    if (typeof now !== 'number' || !Number.isFinite(now)) throw new RangeError('now must be a finite number');
    if (this.now_ === undefined || now >= this.now_) {
      this.now_ = now;
    } else if (this.now_ - now > this.config.maxTickGapMs) {
      this.now_ = now; // the clock was set back a lot: start judging afresh
      this.reset(now);
    }
    return this.now_;
  }

  /** A local discontinuity: nobody can be judged on what happened across it. */
  private reset(t: number): void {
    for (const e of this.members.values()) {
      e.lastHeardAt = t;
      e.stateSince = Math.min(e.stateSince, t);
      e.round = null;
      e.failedRoundAt = null;
    }
    if (this.lastTickAt !== undefined) this.lastTickAt = t;
  }

  /** members by id, kept until one is added or removed (sorting on every tick cost 0.16 ms at 1,000 members) */
  private order: Entry<TInfo>[] | undefined;

  private sorted(): Entry<TInfo>[] {
    this.order ??= [...this.members.values()].sort(byId);
    return this.order;
  }

  private tombstone(id: string, incarnation: number): void {
    const prev = this.tombstones.get(id);
    if (prev === undefined || incarnation > prev) this.tombstones.set(id, incarnation);
  }

  /** First-hand evidence that `id` is alive at incarnation `h` (heartbeat or its own alive rumor). */
  private onEvidence(id: string, h: number, t: number, input: { info?: TInfo }, out: Output[]): void {
    const e = this.members.get(id);
    if (e) {
      evidence(e, h, t, input, out);
      return;
    }
    const tomb = this.tombstones.get(id);
    if (tomb !== undefined && h <= tomb) return;
    this.tombstones.delete(id);
    this.members.set(id, newEntry(id, h, input.info, t));
    this.order = undefined;
    out.push({ type: 'state', id, from: 'unknown', to: 'alive', incarnation: h });
  }

  /** The direct probe of `e` failed: ask the helpers that follow it in id order. */
  private escalate(e: Entry<TInfo>, r: ProbeRound, t: number, out: Output[]): void {
    escalate(e, r, t, helpersFor(this.sorted(), e.id, this.config.indirectProbes), t + this.config.probeTimeoutMs + this.stallMs(t), out);
  }
}
