import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import type { PrivateKey } from '@libp2p/interface';

/**
 * Ed25519 signing and verifying without rebuilding the key every time.
 *
 * Why: @libp2p/crypto turns the raw key into a Node KeyObject (through a JWK, base64url and all)
 * on every sign and every verify. Gossipsub signs each message this node publishes (4 heartbeats a
 * second) and verifies each one it receives: those conversions were about as costly as the
 * signatures themselves. Here the node's own private key gets its KeyObject once, and public keys
 * (the cluster's members, a handful) are kept by their raw bytes in a small bounded map.
 *
 * Installed on the key classes' prototypes, reached through this node's own key (the classes are
 * not exported); anything unexpected (another key type, an odd length) goes to the original code.
 */
const LENGTHS = { privateRaw: 64, publicRaw: 32, signature: 64 };
const MAX_PUBLIC_KEYS = 512;

interface RawKey {
  type: string;
  raw: Uint8Array;
}
type Bytes = Uint8Array | { subarray(): Uint8Array };
type SignFn = (this: RawKey, message: Bytes, options?: { signal?: AbortSignal }) => Uint8Array | Promise<Uint8Array>;
type VerifyFn = (this: RawKey, data: Bytes, sig: Uint8Array, options?: { signal?: AbortSignal }) => boolean | Promise<boolean>;

const privateObjects = new WeakMap<object, KeyObject>();
const publicObjects = new Map<string, KeyObject>();
let installed = false;

const b64u = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');
const bytes = (m: Bytes) => (m instanceof Uint8Array ? m : m.subarray());

function privateObject(key: RawKey): KeyObject {
  let obj = privateObjects.get(key);
  if (!obj) {
    obj = createPrivateKey({ format: 'jwk', key: { kty: 'OKP', crv: 'Ed25519', d: b64u(key.raw.subarray(0, 32)), x: b64u(key.raw.subarray(32)) } });
    privateObjects.set(key, obj);
  }
  return obj;
}

function publicObject(raw: Uint8Array): KeyObject {
  const x = b64u(raw);
  let obj = publicObjects.get(x);
  if (!obj) {
    if (publicObjects.size >= MAX_PUBLIC_KEYS) publicObjects.clear(); // bounded: strangers cannot grow it
    obj = createPublicKey({ format: 'jwk', key: { kty: 'OKP', crv: 'Ed25519', x } });
    publicObjects.set(x, obj);
  }
  return obj;
}

/** Installs the cached sign/verify on the classes of `nodeKey` (an Ed25519 key); false if it is not one. */
export function cacheEd25519KeyObjects(nodeKey: PrivateKey): boolean {
  if (installed) return true;
  const priv = nodeKey as unknown as RawKey & { publicKey: RawKey };
  if (priv.type !== 'Ed25519' || priv.raw?.byteLength !== LENGTHS.privateRaw || priv.publicKey?.type !== 'Ed25519') return false;
  const privProto = Object.getPrototypeOf(priv) as { sign: SignFn };
  const pubProto = Object.getPrototypeOf(priv.publicKey) as { verify: VerifyFn };
  const originalSign = privProto.sign;
  const originalVerify = pubProto.verify;
  if (typeof originalSign !== 'function' || typeof originalVerify !== 'function') return false;
  privProto.sign = function (this: RawKey, message, options) {
    if (!(this.raw instanceof Uint8Array) || this.raw.byteLength !== LENGTHS.privateRaw) return originalSign.call(this, message, options);
    options?.signal?.throwIfAborted();
    return sign(null, bytes(message), privateObject(this));
  };
  pubProto.verify = function (this: RawKey, data, sig, options) {
    if (!(this.raw instanceof Uint8Array) || this.raw.byteLength !== LENGTHS.publicRaw || !(sig instanceof Uint8Array) || sig.byteLength !== LENGTHS.signature) {
      return originalVerify.call(this, data, sig, options);
    }
    options?.signal?.throwIfAborted();
    return verify(null, bytes(data), publicObject(this.raw), sig);
  };
  installed = true;
  return true;
}
