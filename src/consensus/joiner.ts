import type { Logger } from 'pino';
import type { PrivateKey } from '@libp2p/interface';
import { HELLO_TTL_MS, decideFounding, type PeerHello } from '../core/founding.ts';
import { parseJoinToken } from '../core/join-token.ts';
import { UserError } from '../core/errors.ts';
import { signBody } from '../system/signing.ts';
import { caFingerprint } from '../system/pki.ts';
import { monoNow } from '../system/clock.ts';

/** What a joiner sends with its join request and its follow-up. */
export interface JoinerInfo {
  id: string;
  name: string;
  api: string;
  addr: string;
  p2p: string[];
  peerUrl: string;
  clientUrl: string;
}

export interface JoinAccepted {
  state: 'waiting' | 'pending-approval';
  clusterId: string;
  caPem: string;
  memberIds: string[];
}

/** The leader's answer to a successful follow-up. */
export interface AdmissionGrant {
  role: 'voter' | 'client';
  clusterId: string;
  caPem: string;
  certPem: string;
  /** for a voter: every member, itself included, to start etcd with */
  initialCluster?: { name: string; peerUrl: string }[];
  clusterToken?: string;
  endpoints: string[];
}

export interface RequestAdmission {
  type: 'request-admission';
  clusterId: string;
  head: string;
  /** further joiners that may follow up now (they would be admitted as client-only nodes) */
  batch?: string[];
  leaderApi: string;
  apis: string[];
  members: string[];
}

export type JoinOutcome = { kind: 'found' } | { kind: 'admitted'; grant: AdmissionGrant };

export interface JoinerOptions {
  info: JoinerInfo;
  key: PrivateKey;
  logger: Logger;
  joinTargets: string[];
  token?: string;
  /** the public half of the node's TLS key: the leader certifies it (the private key never travels) */
  publicKeyPem: string;
  settleMs?: number;
  /** re-initiate when no broadcast arrived for this long */
  broadcastTimeoutMs?: number;
  /** hellos of others, as heard on the admission topic */
  hellos: () => PeerHello[];
  /** the nodes discovery says are there (founding.ts) */
  discovered?: () => string[];
  onState?: (state: string) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function postJson(url: string, body: unknown, timeoutMs: number): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: await res.json().catch(() => undefined) };
}

/**
 * The joining side of the admission protocol: founds the cluster when the founding rule says so,
 * otherwise asks members to queue it, follows the leader's "request admission" broadcasts, and
 * follows up when it is named. Every request is signed with the node's key.
 */
export class Joiner {
  private lastBroadcastAt = 0;
  private named: RequestAdmission | undefined;
  private accepted: JoinAccepted | undefined;
  private stopped = false;
  readonly startedAt = monoNow();
  private readonly tokenPin: string | undefined;

  constructor(private readonly opts: JoinerOptions) {
    this.tokenPin = opts.token ? parseJoinToken(opts.token).caFingerprint : undefined;
  }

  stop(): void {
    this.stopped = true;
  }

  /** Fed by the agent with every request-admission broadcast. */
  onBroadcast(signer: string, msg: RequestAdmission): void {
    if (!this.accepted || msg.clusterId !== this.accepted.clusterId) return;
    // only admitted members may speak for the cluster
    if (!this.accepted.memberIds.includes(signer)) {
      this.opts.logger.debug({ signer, members: this.accepted.memberIds.length }, 'admission broadcast from a non-member ignored');
      return;
    }
    this.lastBroadcastAt = monoNow();
    for (const api of msg.apis) if (!this.opts.joinTargets.includes(api)) this.opts.joinTargets.push(api);
    if (msg.head === this.opts.info.id || msg.batch?.includes(this.opts.info.id)) this.named = msg;
  }

  private state(s: string): void {
    this.opts.onState?.(s);
  }

  async run(): Promise<JoinOutcome> {
    let lastJoinAt = 0;
    let lastState = '';
    while (!this.stopped) {
      if (!this.accepted) {
        const decision = decideFounding({
          selfId: this.opts.info.id,
          now: monoNow(),
          startedAt: this.startedAt,
          settleMs: this.opts.settleMs ?? 2500,
          helloTtlMs: HELLO_TTL_MS,
          joinTargets: this.opts.joinTargets,
          peers: this.opts.hellos(),
          discovered: this.opts.discovered?.() ?? [],
        });
        if (decision.type === 'found') return { kind: 'found' };
        if (decision.type === 'wait') {
          if (decision.reason !== lastState) this.opts.logger.info({ reason: decision.reason }, 'not joined yet');
          lastState = decision.reason;
          this.state('discovering');
          await sleep(200);
          continue;
        }
        if (monoNow() - lastJoinAt > 1000) {
          lastJoinAt = monoNow();
          await this.requestJoin(decision.targets);
        }
        await sleep(200);
        continue;
      }
      // queued: follow the leader's broadcasts; re-initiate when they stop
      if (this.named) {
        const grant = await this.followUp(this.named);
        this.named = undefined;
        if (grant) return { kind: 'admitted', grant };
      }
      const silentFor = monoNow() - Math.max(this.lastBroadcastAt, lastJoinAt);
      if (silentFor > (this.opts.broadcastTimeoutMs ?? 3000) || monoNow() - lastJoinAt > 5000) {
        lastJoinAt = monoNow();
        await this.requestJoin(this.opts.joinTargets.length ? this.opts.joinTargets : []);
      }
      await sleep(100);
    }
    throw new UserError('stopped', 'the agent stopped before it was admitted');
  }

  /** POST /v1/join to the first target that answers; a refused token is final. */
  private async requestJoin(targets: string[]): Promise<void> {
    const body = await signBody(this.opts.key, { ...this.opts.info, ...(this.opts.token ? { token: this.opts.token } : {}) });
    for (const target of targets) {
      let res: { status: number; body: any };
      try {
        res = await postJson(`${target}/v1/join`, body, 5000);
      } catch {
        continue;
      }
      if (res.status === 403) throw new UserError(res.body?.error?.code ?? 'join_refused', `the cluster at ${target} refused to admit this node: ${res.body?.error?.message ?? 'forbidden'}`);
      if (res.status !== 202) continue;
      const accepted = res.body as JoinAccepted;
      if (this.tokenPin && caFingerprint(accepted.caPem) !== this.tokenPin) {
        throw new UserError('ca_mismatch', `the cluster at ${target} does not have the CA the join token pins: refusing to join it`);
      }
      if (!this.accepted || this.accepted.state !== accepted.state) {
        this.opts.logger.info({ target, state: accepted.state, clusterId: accepted.clusterId }, accepted.state === 'pending-approval' ? 'join request pending: an operator must approve it (warren admit)' : 'join request queued');
      }
      this.accepted = accepted;
      this.state(accepted.state === 'pending-approval' ? 'pending' : 'queued');
      return;
    }
  }

  /** Asks the leader (then any other listed member) to admit this node now. */
  private async followUp(msg: RequestAdmission): Promise<AdmissionGrant | undefined> {
    this.state('admitting');
    const body = await signBody(this.opts.key, { id: this.opts.info.id, publicKeyPem: this.opts.publicKeyPem });
    for (const api of [msg.leaderApi, ...msg.apis.filter((a) => a !== msg.leaderApi)]) {
      try {
        const res = await postJson(`${api}/v1/admit`, body, 30_000);
        if (res.status === 200) {
          const grant = res.body as AdmissionGrant;
          if (this.tokenPin && caFingerprint(grant.caPem) !== this.tokenPin) throw new UserError('ca_mismatch', 'the admitting member does not have the CA the join token pins');
          return grant;
        }
        this.opts.logger.debug({ api, status: res.status, error: res.body?.error }, 'admission follow-up not accepted');
        if (res.status === 409) return undefined; // not our turn (any more): wait for the next broadcast
      } catch (err) {
        if (err instanceof UserError) throw err;
        this.opts.logger.debug({ api, err: (err as Error).message }, 'admission follow-up failed');
      }
    }
    return undefined;
  }
}
