import { hostname, networkInterfaces } from 'node:os';
import { nodeNameFrom } from '../core/agent-config.ts';

/** The machine's primary address: the first non-internal IPv4, else 127.0.0.1. */
export function primaryAddress(): string {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family === 'IPv4' && !a.internal) return a.address;
    }
  }
  return '127.0.0.1';
}

export function defaultNodeName(): string {
  return nodeNameFrom(hostname());
}
