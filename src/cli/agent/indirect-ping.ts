/** Asks another member to ping `target` for us (the indirect probe of failure detection). */
export async function indirectPingOverHttp(helperApi: string, target: string, timeoutMs: number): Promise<boolean> {
  const res = await fetch(`${helperApi}/v1/probe`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ target, timeoutMs }),
    signal: AbortSignal.timeout(timeoutMs + 200),
  });
  return res.ok && ((await res.json()) as { ok?: boolean }).ok === true;
}
