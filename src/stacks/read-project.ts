/**
 * Reads a compose project from disk into a StackInput (src/core/compose/project.ts): the -f files,
 * the .env next to the first file (or --env-file, which replaces it, as compose does), the
 * env_file files the services name, and of the shell environment only the variables the files
 * refer to (so a deploy never ships the user's whole environment to the agent).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { UserError } from '../core/errors.ts';
import { referencedVariables } from '../core/compose/interpolate.ts';
import { envFilesOf, loadStack, type StackInput } from '../core/compose/project.ts';
import type { StackConfigResult } from '../core/compose/model.ts';
import type { ReservedPort } from '../core/compose/validate.ts';

export interface ProjectOptions {
  files: string[];
  envFile?: string;
  projectName?: string;
  profiles?: string[];
  reservedPorts?: ReservedPort[];
}

/** compose's default file names, in its order of preference, when no -f is given. */
export const DEFAULT_FILES = ['compose.yaml', 'compose.yml', 'docker-compose.yaml', 'docker-compose.yml'];

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError('file_unreadable', `${what} ${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (err as Error).message}`);
  }
}

/** The compose files to read: the -f list, else the first default name found in the current directory. */
export function composeFiles(files: string[], cwd = process.cwd()): string[] {
  if (files.length) return files.map((f) => resolve(cwd, f));
  const found = DEFAULT_FILES.map((f) => join(cwd, f)).find((f) => existsSync(f));
  if (!found) throw new UserError('no_compose_file', `no compose file here (looked for ${DEFAULT_FILES.join(', ')}): pass -f FILE`);
  return [found];
}

export function readProject(opts: ProjectOptions, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): StackInput {
  const paths = composeFiles(opts.files, cwd);
  const files = paths.map((path) => ({ path, text: readText(path, 'compose file') }));
  let envFile: StackInput['envFile'];
  if (opts.envFile) {
    const path = resolve(cwd, opts.envFile);
    envFile = { path, text: readText(path, '--env-file') };
  } else {
    const path = join(dirname(paths[0]!), '.env');
    if (existsSync(path)) envFile = { path, text: readText(path, '.env file') };
  }
  const names = new Set([...files, ...(envFile ? [envFile] : [])].flatMap((f) => referencedVariables(f.text)));
  for (const k of ['COMPOSE_PROJECT_NAME', 'COMPOSE_PROFILES', 'HOME']) names.add(k);
  const environment: Record<string, string> = {};
  for (const k of names) if (env[k] !== undefined) environment[k] = env[k]!;
  const input: StackInput = { files, envFile, environment, projectName: opts.projectName, profiles: opts.profiles, reservedPorts: opts.reservedPorts };
  const extraFiles: Record<string, string> = {};
  for (const path of envFilesOf(input)) {
    if (existsSync(path)) {
      extraFiles[path] = readText(path, 'env_file');
      for (const v of referencedVariables(extraFiles[path]!)) if (env[v] !== undefined) environment[v] = env[v]!;
    }
  }
  return { ...input, extraFiles };
}

/** Reads and normalises a project: what `warren stack config` prints. */
export function configOf(opts: ProjectOptions, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): StackConfigResult {
  return loadStack(readProject(opts, env, cwd));
}
