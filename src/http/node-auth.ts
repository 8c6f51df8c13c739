import { createHash } from 'node:crypto';
import type { PrivateKey } from '@libp2p/interface';
import type { MiddlewareHandler } from 'hono';
import { signBody, verifyBody } from '../system/signing.ts';
import { jsonError } from './errors.ts';

/**
 * Node-to-node calls (snapshot replication): the caller signs the method, path and (for JSON
 * bodies) the body's SHA-256 with its node key, in one header; the callee checks the signature,
 * its age, and that the signer is an admitted member. A machine that was never admitted (or whose
 * signature is for another call) changes nothing. Same keys and signature as admission's bodies.
 */
export const NODE_AUTH_HEADER = 'x-warren-node';
const MAX_AGE_MS = 60_000;

interface NodeCall {
  id: string;
  method: string;
  path: string;
  bodySha256?: string;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The header value for one call by node `id`; `body` is the exact JSON text sent, when there is one. */
export async function nodeAuthHeader(key: PrivateKey, id: string, method: string, path: string, body?: string): Promise<string> {
  const call: NodeCall = { id, method, path, ...(body !== undefined ? { bodySha256: sha256(body) } : {}) };
  return Buffer.from(JSON.stringify(await signBody(key, call))).toString('base64');
}

/**
 * Only admitted members pass. With `bodyHash`, the request's body must be the one signed (routes
 * whose body is a stream of self-checking chunks skip it: a chunk is stored only under its own hash).
 */
export function requireMember(isAdmitted: (id: string) => boolean | Promise<boolean>, opts: { bodyHash?: boolean } = {}): MiddlewareHandler {
  return async (c, next) => {
    const header = c.req.header(NODE_AUTH_HEADER);
    const deny = (why: string) => jsonError(c, 401, 'unauthorized', `this call is for cluster members only: ${why}`);
    if (!header || header.length > 16_384) return deny(`no ${NODE_AUTH_HEADER} header`);
    let body: unknown;
    try {
      body = JSON.parse(Buffer.from(header, 'base64').toString('utf8'));
    } catch {
      return deny('the header is not a signed call');
    }
    const v = await verifyBody<NodeCall>(body, MAX_AGE_MS);
    if (!v.ok) return deny(v.reason);
    const call = v.value;
    if (call.method !== c.req.method || call.path !== c.req.path) return deny('the signature is for another call');
    if (!(await isAdmitted(call.id))) return deny(`node ${call.id} is not an admitted member`);
    if (opts.bodyHash && (typeof call.bodySha256 !== 'string' || call.bodySha256 !== sha256(await c.req.text()))) return deny('the body is not the one signed');
    await next();
  };
}
