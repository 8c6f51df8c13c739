/**
 * The addresses a node gives a stack's services on the stack's Docker network here, and the
 * names they answer to (pure).
 *
 * Docker hands container addresses out from the bottom of a network's subnet (gateway .1, then
 * .2, .3, ...), so the node takes its service addresses from the top (below the broadcast
 * address): a stack network would need tens of thousands of containers on one node to meet them.
 * An address stays with its service while the service exists (containers and resolvers may have
 * it cached); a new service takes the highest free one.
 */

/** IPv4 dotted quad → 32-bit number; undefined when not one. */
export function ipv4ToInt(ip: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export const intToIpv4 = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

/**
 * Up to `count` addresses from the top of an IPv4 subnet ("172.18.0.0/16"), highest first, never
 * the broadcast address and never in the lower half (where Docker allocates); [] for anything else
 * (IPv6, a prefix longer than /28).
 */
export function topAddresses(subnet: string, count: number): string[] {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(subnet);
  if (!m) return [];
  const base = ipv4ToInt(m[1]!);
  const prefix = Number(m[2]);
  if (base === undefined || prefix < 8 || prefix > 28) return [];
  const size = 2 ** (32 - prefix);
  const network = base - (base % size);
  const broadcast = network + size - 1;
  const out: string[] = [];
  for (let a = broadcast - 1; a >= network + size / 2 && out.length < count; a--) out.push(intToIpv4(a));
  return out;
}

/**
 * Each service's address: kept from `prev` while the service exists and its address is still in
 * the pool; new services (sorted by name) take the first free pool addresses. Services beyond
 * the pool get none (the caller reports them).
 */
export function allocateNameAddrs(prev: ReadonlyMap<string, string>, services: readonly string[], pool: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  const inPool = new Set(pool);
  const used = new Set<string>();
  const sorted = [...new Set(services)].sort();
  for (const s of sorted) {
    const a = prev.get(s);
    if (a !== undefined && inPool.has(a) && !used.has(a)) {
      out.set(s, a);
      used.add(a);
    }
  }
  let i = 0;
  for (const s of sorted) {
    if (out.has(s)) continue;
    while (i < pool.length && used.has(pool[i]!)) i++;
    if (i >= pool.length) break;
    out.set(s, pool[i]!);
    used.add(pool[i]!);
  }
  return out;
}

/**
 * Name → address for one stack network: every name a service answers to (its compose name,
 * container_name, aliases, hostname and Warren name, lowercased). A name two services claim goes
 * to the first by Warren name (compose refuses duplicate container_names; aliases may repeat).
 */
export function nameTable(services: readonly { name: string; names: readonly string[] }[], addrs: ReadonlyMap<string, string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of [...services].sort((a, b) => a.name.localeCompare(b.name))) {
    const ip = addrs.get(s.name);
    if (ip === undefined) continue;
    for (const n of [s.name, ...s.names]) {
      const key = n.toLowerCase().replace(/\.$/, '');
      if (key && !out.has(key)) out.set(key, ip);
    }
  }
  return out;
}
