import { peerIdFromString } from '@libp2p/peer-id';
import type { PrivateKey } from '@libp2p/interface';

/** A JSON body signed by a node's libp2p key: proves the request comes from that node id. */
export interface SignedBody {
  payload: string;
  sig: string;
}

export async function signBody(key: PrivateKey, value: object): Promise<SignedBody> {
  const payload = JSON.stringify({ ...value, signedAt: Date.now() });
  const sig = await key.sign(new TextEncoder().encode(payload));
  return { payload, sig: Buffer.from(sig).toString('base64') };
}

/**
 * Verifies a signed body against the node id it claims (`id` inside the payload) and its age.
 * Returns the payload, or a reason it was refused.
 */
export async function verifyBody<T extends { id: string }>(body: unknown, maxAgeMs = 5 * 60_000): Promise<{ ok: true; value: T } | { ok: false; reason: string }> {
  const b = body as Partial<SignedBody> | undefined;
  if (!b || typeof b.payload !== 'string' || typeof b.sig !== 'string' || b.payload.length > 64 * 1024) return { ok: false, reason: 'expected a signed body { payload, sig }' };
  let value: T & { signedAt?: number };
  try {
    value = JSON.parse(b.payload) as T & { signedAt?: number };
  } catch {
    return { ok: false, reason: 'the payload is not JSON' };
  }
  if (typeof value?.id !== 'string') return { ok: false, reason: 'the payload names no node id' };
  if (typeof value.signedAt !== 'number' || Math.abs(Date.now() - value.signedAt) > maxAgeMs) return { ok: false, reason: 'the signature is too old (check the clocks)' };
  try {
    const key = peerIdFromString(value.id).publicKey;
    if (!key || !(await key.verify(new TextEncoder().encode(b.payload), Buffer.from(b.sig, 'base64')))) return { ok: false, reason: 'bad signature' };
  } catch {
    return { ok: false, reason: 'bad node id or signature' };
  }
  return { ok: true, value };
}
