import type { Readable } from 'node:stream';

/** What the volume operations (src/runtime/volume-ops.ts) answer. */

export interface RestoreResult {
  volume: string;
  /** the snapshot whose data the volume holds now */
  restored: string;
  /** the snapshot of the data it held before (kept by retention for KEEP_BEFORE_MS) */
  before: string;
  /** the new snapshot of the restored data: the newest of the lineage */
  snapshot: string;
  replicated: string[];
}

export interface CloneResult {
  volume: string;
  from: string;
  snapshot: string;
  replicated: string[];
}

export interface ImportResult {
  volume: string;
  snapshot: string;
  sizeBytes: number;
  files: number;
  skipped: string[];
  replicated: string[];
}

export interface ExportStream {
  snapshot: string;
  sizeBytes: number;
  body: Readable;
}
