/**
 * The cluster backup file (`warren cluster backup`): an etcd snapshot plus the cluster CA,
 * encrypted with a passphrase.
 *
 * Layout: the line `warren-backup 1`, a JSON header line (the key derivation's parameters and
 * salt, the cipher's IV), then AES-256-GCM ciphertext followed by its 16-byte tag. The key is
 * scrypt(passphrase, salt) (N = 2^15, r = 8, p = 1: ~32 MiB and ~0.1 s per try). The header is
 * authenticated too (GCM additional data), so nothing in the file can be changed unnoticed.
 *
 * The plaintext ("bundle", what GET /v1/cluster/backup returns to the admin) is a 4-byte
 * big-endian length, that many bytes of JSON manifest, then the etcd snapshot as etcd wrote it.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, scrypt as scryptCb, type ScryptOptions } from 'node:crypto';
import { UserError } from '../core/errors.ts';

export interface BackupManifest {
  format: 1;
  clusterId: string;
  /** ms since the epoch */
  createdAt: number;
  /** the version of the agent that made it */
  warrenVersion: string;
  caPem: string;
  caKeyPem: string;
  /** hex SHA-256 of the snapshot bytes */
  snapshotSha256: string;
  snapshotBytes: number;
}

const MAGIC = 'warren-backup 1\n';
const TAG_BYTES = 16;
export const MIN_PASSPHRASE = 8;
const KDF = { N: 2 ** 15, r: 8, p: 1 } as const;

interface Header {
  kdf: 'scrypt';
  N: number;
  r: number;
  p: number;
  salt: string;
  cipher: 'aes-256-gcm';
  iv: string;
}

const bad = (what: string) => new UserError('bad_backup', `this is not a Warren backup file, or it is damaged: ${what}`);

export function packBundle(manifest: Omit<BackupManifest, 'snapshotSha256' | 'snapshotBytes'>, snapshot: Buffer): Buffer {
  const full: BackupManifest = { ...manifest, snapshotSha256: createHash('sha256').update(snapshot).digest('hex'), snapshotBytes: snapshot.length };
  const json = Buffer.from(JSON.stringify(full));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(json.length);
  return Buffer.concat([len, json, snapshot]);
}

export function unpackBundle(bundle: Buffer): { manifest: BackupManifest; snapshot: Buffer } {
  if (bundle.length < 4) throw bad('too short');
  const n = bundle.readUInt32BE(0);
  if (n > 1024 * 1024 || 4 + n > bundle.length) throw bad('bad manifest length');
  let manifest: BackupManifest;
  try {
    manifest = JSON.parse(bundle.subarray(4, 4 + n).toString('utf8')) as BackupManifest;
  } catch {
    throw bad('the manifest is not JSON');
  }
  if (manifest.format !== 1 || typeof manifest.clusterId !== 'string' || typeof manifest.caPem !== 'string' || typeof manifest.caKeyPem !== 'string') {
    throw bad('unknown manifest format');
  }
  const snapshot = bundle.subarray(4 + n);
  if (snapshot.length !== manifest.snapshotBytes || createHash('sha256').update(snapshot).digest('hex') !== manifest.snapshotSha256) throw bad('the snapshot does not match its checksum');
  return { manifest, snapshot };
}

function deriveKey(passphrase: string, salt: Buffer, p: { N: number; r: number; p: number }): Promise<Buffer> {
  const opts: ScryptOptions = { N: p.N, r: p.r, p: p.p, maxmem: 256 * p.N * p.r + 1024 * 1024 };
  return new Promise((resolve, reject) => scryptCb(passphrase.normalize('NFC'), salt, 32, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

export function checkPassphrase(passphrase: string): void {
  if ([...passphrase].length < MIN_PASSPHRASE) throw new UserError('weak_passphrase', `the passphrase must have at least ${MIN_PASSPHRASE} characters`);
}

export async function encryptBackup(bundle: Buffer, passphrase: string): Promise<Buffer> {
  checkPassphrase(passphrase);
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const header: Header = { kdf: 'scrypt', ...KDF, salt: salt.toString('base64'), cipher: 'aes-256-gcm', iv: iv.toString('base64') };
  const head = Buffer.from(`${MAGIC}${JSON.stringify(header)}\n`);
  const cipher = createCipheriv('aes-256-gcm', await deriveKey(passphrase, salt, KDF), iv);
  cipher.setAAD(head);
  const body = Buffer.concat([cipher.update(bundle), cipher.final()]);
  return Buffer.concat([head, body, cipher.getAuthTag()]);
}

export async function decryptBackup(file: Buffer, passphrase: string): Promise<Buffer> {
  if (file.subarray(0, MAGIC.length).toString('latin1') !== MAGIC) throw bad('it does not start with "warren-backup 1"');
  const nl = file.indexOf(0x0a, MAGIC.length);
  if (nl < 0 || nl > 4096) throw bad('no header');
  let h: Header;
  try {
    h = JSON.parse(file.subarray(MAGIC.length, nl).toString('utf8')) as Header;
  } catch {
    throw bad('the header is not JSON');
  }
  const sane = h.kdf === 'scrypt' && h.cipher === 'aes-256-gcm' && [h.N, h.r, h.p].every(Number.isSafeInteger) && h.N >= 2 ** 14 && h.N <= 2 ** 20 && h.r >= 1 && h.r <= 32 && h.p >= 1 && h.p <= 16;
  if (!sane || typeof h.salt !== 'string' || typeof h.iv !== 'string') throw bad('unknown encryption parameters');
  const head = file.subarray(0, nl + 1);
  const rest = file.subarray(nl + 1);
  if (rest.length < TAG_BYTES) throw bad('too short');
  const decipher = createDecipheriv('aes-256-gcm', await deriveKey(passphrase, Buffer.from(h.salt, 'base64'), h), Buffer.from(h.iv, 'base64'));
  decipher.setAAD(head);
  decipher.setAuthTag(rest.subarray(rest.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(rest.subarray(0, rest.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new UserError('bad_passphrase', 'wrong passphrase, or the backup file was changed or damaged');
  }
}
