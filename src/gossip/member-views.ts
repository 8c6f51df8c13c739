import type { MemberSnapshot } from '../core/membership.ts';
import type { GossipMemberInfo } from '../core/gossip-acceptance.ts';
import type { EtcdRole, HealthFigures, MemberView } from '../core/views.ts';
import type { SelfInfo } from './gossip-options.ts';
import type { RestartOverlay } from './restart-overlay.ts';

/** Every member as `GET /v1/members` shows it (GossipService.members), this node first, the others by name. */
export function memberViews(o: {
  self: SelfInfo;
  selfId: string;
  selfRole: EtcdRole;
  health: HealthFigures | undefined;
  members: MemberSnapshot<GossipMemberInfo>[];
  restarts: RestartOverlay<GossipMemberInfo>;
  now: number;
}): MemberView[] {
  const { self, now } = o;
  const me: MemberView = { id: o.selfId, name: self.name, addr: self.addr, api: self.api, state: 'alive', role: o.selfRole, lastHeardMs: 0, self: true, version: self.version, ...(o.health ? { health: o.health } : {}) };
  const others = o.members.map((m: MemberSnapshot<GossipMemberInfo>): MemberView => ({
    id: m.id,
    name: m.info?.name ?? '?',
    addr: m.info?.addr ?? '?',
    ...(m.info?.api ? { api: m.info.api } : {}),
    state: o.restarts.stateOf(m, now).state,
    role: m.info?.role ?? 'none',
    lastHeardMs: Math.max(0, Math.round(now - m.lastHeardAt)),
    self: false,
    ...(m.info ? { version: m.info.version, health: m.info.health } : {}),
  }));
  return [me, ...others.sort((a, b) => a.name.localeCompare(b.name))];
}
