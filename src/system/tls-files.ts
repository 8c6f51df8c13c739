import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../core/errors.ts';

/** The node's TLS files (cluster CA, its certificate and key): reading and writing them needs no X.509 library. */
export interface TlsFiles {
  caPem: string;
  certPem: string;
  keyPem: string;
}

export interface TlsPaths {
  caFile: string;
  certFile: string;
  keyFile: string;
}

export const TLS_FILE_NAMES = { caFile: 'ca.crt', certFile: 'node.crt', keyFile: 'node.key' } as const;

/** The CA's pin as carried in join tokens: base64url (no padding) SHA-256 of the certificate DER. */
export function caFingerprint(certPem: string): string {
  return createHash('sha256').update(pemToDer(certPem, 'CERTIFICATE')).digest('base64url');
}

/** Writes ca.crt, node.crt and node.key (0600) into `dir` (created 0700). */
export async function writeTlsFiles(dir: string, files: TlsFiles): Promise<TlsPaths> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const paths = tlsPaths(dir);
  // key first: a crash part way leaves no new certificate next to an old key
  await writeAtomically(paths.keyFile, files.keyPem, 0o600);
  await writeAtomically(paths.certFile, files.certPem, 0o644);
  await writeAtomically(paths.caFile, files.caPem, 0o644);
  return paths;
}

/** Writes a sibling temporary file with its final mode, then renames it over `file`. */
async function writeAtomically(file: string, content: string, mode: number): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, content, { mode });
    await chmod(tmp, mode); // the umask may have narrowed it; an old leftover may have another mode
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Reads the files written by writeTlsFiles; undefined when the directory has none yet. */
export async function readTlsFiles(dir: string): Promise<(TlsFiles & { paths: TlsPaths }) | undefined> {
  const paths = tlsPaths(dir);
  let caPem: string;
  try {
    caPem = await readFile(paths.caFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const [certPem, keyPem] = await Promise.all([readFile(paths.certFile, 'utf8'), readFile(paths.keyFile, 'utf8')]);
  return { caPem, certPem, keyPem, paths };
}

export function tlsPaths(dir: string): TlsPaths {
  return {
    caFile: join(dir, TLS_FILE_NAMES.caFile),
    certFile: join(dir, TLS_FILE_NAMES.certFile),
    keyFile: join(dir, TLS_FILE_NAMES.keyFile),
  };
}

export function pemToDer(pem: string, label: string): Uint8Array<ArrayBuffer> {
  const m = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`).exec(pem);
  if (!m) throw new UserError('bad_pem', `not a PEM "${label}" block`);
  return new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
}
