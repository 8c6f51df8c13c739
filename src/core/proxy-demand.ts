/**
 * When `--proxy-workers auto` starts its worker processes: on demand, not at boot. An idle home
 * node serves a handful of requests a minute, which the agent's own proxy handles on its core,
 * and each worker costs ~55-65 MB of RSS; a node that gets real traffic starts them once the
 * agent's proxy has been busy for a few seconds in a row. Pure: fed the proxy's request counter
 * once a second (src/routing/proxy-workers.ts startOnDemand).
 */

/** Requests per second through the agent's own proxy that count as busy. */
export const BUSY_REQUESTS_PER_S = 100;
/** Busy this many seconds in a row (samples) before the workers start. */
export const BUSY_SAMPLES = 3;

export interface DemandState {
  /** the counter at the last sample, and when */
  last?: { requests: number; at: number };
  /** busy samples in a row */
  busy: number;
}

export function initialDemand(): DemandState {
  return { busy: 0 };
}

/** One sample of the proxy's request counter at `now`: the new state, and whether to start now. */
export function demandStep(s: DemandState, requests: number, now: number): { state: DemandState; start: boolean } {
  const last = { requests, at: now };
  if (!s.last || now <= s.last.at || requests < s.last.requests) return { state: { last, busy: 0 }, start: false };
  const rate = ((requests - s.last.requests) * 1000) / (now - s.last.at);
  const busy = rate >= BUSY_REQUESTS_PER_S ? s.busy + 1 : 0;
  return { state: { last, busy }, start: busy >= BUSY_SAMPLES };
}
