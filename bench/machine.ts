import { readFileSync } from 'node:fs';
import { findPids } from '../test/helpers/agents.ts';

export function loadAvg1(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

/** Agent processes on this machine that this benchmark did not start (other test runs); `own`: the pids of those it did. */
export function foreignAgents(own: number[] = []): number {
  return findPids((cmd) => cmd.includes('main.mjs\0agent')).filter((pid) => !own.includes(pid)).length;
}

/**
 * The figures mean little while other test runs load the machine (2 cores): wait (bounded) until
 * no other agent runs and the load has settled; proceed anyway after the bound, and say so.
 */
export async function quietMachine(what: string, waitMs: number, own: number[] = []): Promise<{ foreignAgents: number; loadAvg1: number }> {
  const deadline = Date.now() + waitMs;
  let told = 0;
  for (;;) {
    const foreign = foreignAgents(own);
    const load = loadAvg1();
    if ((foreign === 0 && load < 3) || Date.now() > deadline) {
      if (foreign > 0 || load >= 3) console.log(`bench: ${what}: machine still busy (${foreign} other agents, load ${load}); measuring anyway`);
      return { foreignAgents: foreign, loadAvg1: load };
    }
    if (Date.now() - told > 30_000) {
      told = Date.now();
      console.log(`bench: ${what}: waiting for a quiet machine (${foreign} other agents running, load ${load})`);
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}
