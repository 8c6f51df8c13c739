/**
 * One sample's value in a Prometheus text exposition (an agent's /metrics), by its full name with
 * labels as the agent writes them (`warren_x_total{k="v"}`); `missing` when there is no such line
 * (a counter not counted yet has none).
 */
export function metric(text: string, name: string, missing = NaN): number {
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return Number(new RegExp(`^${escaped} (\\d+)$`, 'm').exec(text)?.[1] ?? missing);
}
