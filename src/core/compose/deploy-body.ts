/**
 * The body of POST /v1/stacks: the compose files' texts and what they need, so the agent reads
 * the project exactly as `warren stack config` did on the user's machine:
 * ```
 * {
 *   "files": [{ "path": "/home/me/app/compose.yaml", "text": "services: ..." }],   // -f order
 *   "envFile": { "path": "/home/me/app/.env", "text": "TAG=1" },                   // optional
 *   "environment": { "TAG": "2" },       // the shell's values of the variables the files use
 *   "extraFiles": { "/home/me/app/web.env": "A=1" },   // env_file files, by absolute path
 *   "projectName": "shop", "profiles": ["debug"], "dryRun": false
 * }
 * ```
 * Validation is by shape only; the compose rules are project.ts's.
 */
import { UserError } from '../errors.ts';
import type { StackInput } from './project.ts';

export interface DeployBody extends Omit<StackInput, 'reservedPorts'> {
  dryRun: boolean;
}

const FIELDS = ['files', 'envFile', 'environment', 'extraFiles', 'projectName', 'profiles', 'dryRun'];

const fail = (message: string): never => {
  throw new UserError('invalid_stack', message, 400);
};
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function file(v: unknown, what: string): { path: string; text: string } {
  if (!isObj(v) || typeof v.path !== 'string' || typeof v.text !== 'string' || Object.keys(v).length !== 2) return fail(`${what} must be { "path": "/abs/path", "text": "..." }`);
  if (!v.path.startsWith('/')) fail(`${what}.path must be absolute, got "${v.path}"`);
  return { path: v.path, text: v.text };
}

function strings(v: unknown, what: string): Record<string, string> {
  if (!isObj(v) || Object.values(v).some((x) => typeof x !== 'string')) return fail(`${what} must be an object of strings`);
  return v as Record<string, string>;
}

export function parseDeployBody(body: unknown): DeployBody {
  if (!isObj(body)) return fail('the body must be a JSON object such as {"files": [{"path": "/app/compose.yaml", "text": "services: ..."}]}');
  const extra = Object.keys(body).filter((k) => !FIELDS.includes(k));
  if (extra.length) fail(`unknown field "${extra[0]}" in the stack body (the fields are: ${FIELDS.join(', ')})`);
  if (!Array.isArray(body.files) || body.files.length === 0) fail('files must be a non-empty list of { "path", "text" } (the compose files, in -f order)');
  const out: DeployBody = {
    files: (body.files as unknown[]).map((f, i) => file(f, `files[${i}]`)),
    environment: body.environment === undefined ? {} : strings(body.environment, 'environment'),
    dryRun: body.dryRun === true,
  };
  if (body.dryRun !== undefined && typeof body.dryRun !== 'boolean') fail('dryRun must be true or false');
  if (body.envFile !== undefined) out.envFile = file(body.envFile, 'envFile');
  if (body.extraFiles !== undefined) out.extraFiles = strings(body.extraFiles, 'extraFiles');
  if (body.projectName !== undefined) out.projectName = typeof body.projectName === 'string' ? body.projectName : fail('projectName must be a string');
  if (body.profiles !== undefined) {
    if (!Array.isArray(body.profiles) || body.profiles.some((p) => typeof p !== 'string')) fail('profiles must be a list of strings');
    out.profiles = body.profiles as string[];
  }
  return out;
}
