/** Builds compose projects from inline texts for the unit tests of src/core/compose. */
import assert from 'node:assert/strict';
import { UserError } from '../../src/core/errors.ts';
import { formatProblem } from '../../src/core/compose/diagnostics.ts';
import type { StackConfigResult } from '../../src/core/compose/model.ts';
import { loadStack, type StackInput } from '../../src/core/compose/project.ts';

export const DIR = '/home/me/app';

/** `files`: name → text, in -f order (paths under DIR). */
export function project(files: Record<string, string>, more: Partial<StackInput> = {}): StackConfigResult {
  return loadStack({
    files: Object.entries(files).map(([name, text]) => ({ path: `${DIR}/${name}`, text })),
    environment: {},
    ...more,
  });
}

/** The warnings as "file:line: path: message" lines. */
export const warningLines = (r: StackConfigResult) => r.warnings.map(formatProblem);

/** Asserts the project is refused, and returns its error lines. */
export function refused(files: Record<string, string>, more: Partial<StackInput> = {}): string[] {
  try {
    project(files, more);
  } catch (err) {
    assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
    assert.equal(err.code, 'invalid_stack');
    return err.message.split('\n');
  }
  assert.fail('the project was accepted');
}
