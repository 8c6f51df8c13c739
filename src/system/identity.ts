import { readFile, writeFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import type { PrivateKey } from '@libp2p/interface';
import { UserError, messageOf } from '../core/errors.ts';
import { DATA_FILES } from './data-dir.ts';

export interface NodeIdentity {
  /** the libp2p peer id, as a string: the node id everywhere */
  id: string;
  privateKey: PrivateKey;
  created: boolean;
}

interface IdentityFile {
  version: 1;
  id: string;
  privateKey: string;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

/**
 * Loads the node's key pair from the data dir, or creates one on first start.
 * A data dir with cluster data but no readable identity is refused rather than
 * silently given a new identity (that would make it a stranger to its own cluster).
 */
export async function loadOrCreateIdentity(dataDir: string): Promise<NodeIdentity> {
  const file = join(dataDir, DATA_FILES.identity);
  let text: string | undefined;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new UserError('bad_identity', `cannot read the node identity ${file}: ${messageOf(err)}`);
    }
  }
  if (text === undefined) {
    if (await exists(join(dataDir, DATA_FILES.etcd))) {
      throw new UserError('bad_identity', `data dir ${dataDir} holds cluster data but no ${DATA_FILES.identity}: it belongs to another node; restore the file or choose another --data-dir`);
    }
    const privateKey = await generateKeyPair('Ed25519');
    const id = peerIdFromPrivateKey(privateKey).toString();
    const body: IdentityFile = { version: 1, id, privateKey: Buffer.from(privateKeyToProtobuf(privateKey)).toString('base64') };
    await writeFile(file, JSON.stringify(body, null, 2) + '\n', { mode: 0o600 });
    return { id, privateKey, created: true };
  }
  try {
    const body = JSON.parse(text) as IdentityFile;
    if (body.version !== 1 || typeof body.privateKey !== 'string') throw new Error('unknown format');
    const privateKey = privateKeyFromProtobuf(Buffer.from(body.privateKey, 'base64'));
    const id = peerIdFromPrivateKey(privateKey).toString();
    if (body.id !== id) throw new Error('its id does not match its key');
    return { id, privateKey, created: false };
  } catch (err) {
    throw new UserError('bad_identity', `the node identity ${file} cannot be read (${messageOf(err)}): it belongs to another agent version or is damaged; restore it or choose another --data-dir`);
  }
}

/** The node id recorded in a data dir, without creating one (undefined: the dir has none). */
export async function readNodeId(dataDir: string): Promise<string | undefined> {
  const file = join(dataDir, DATA_FILES.identity);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UserError('bad_identity', `cannot read the node identity ${file}: ${messageOf(err)}`);
  }
  const id = (() => {
    try {
      return (JSON.parse(text) as Partial<IdentityFile>).id;
    } catch {
      return undefined;
    }
  })();
  if (typeof id !== 'string' || id === '') throw new UserError('bad_identity', `the node identity ${file} is damaged (no node id in it)`);
  return id;
}
