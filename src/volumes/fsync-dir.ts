import { closeSync, fsyncSync, openSync } from 'node:fs';

/** Makes a directory's entries durable (a file created, renamed or removed in it). */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
