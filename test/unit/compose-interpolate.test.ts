import { test } from 'node:test';
import assert from 'node:assert/strict';
import { interpolateString, InterpolationError, referencedVariables } from '../../src/core/compose/interpolate.ts';
import { parseDotenv, DotenvError } from '../../src/core/compose/dotenv.ts';

const env: Record<string, string> = { SET: 'value', EMPTY: '', FALLBACK: 'fallback', N: '3' };
const lookup = (k: string) => (Object.hasOwn(env, k) ? env[k] : undefined);
const interp = (s: string) => {
  const unset: string[] = [];
  const out = interpolateString(s, lookup, (n) => unset.push(n));
  return { out, unset };
};

test('every operator on a set, an empty and an unset variable (the specification table)', () => {
  const cases: [string, string, string, string][] = [
    // expression template (VAR replaced), set, empty, unset
    ['${VAR}', 'value', '', ''],
    ['$VAR', 'value', '', ''],
    ['${VAR:-d}', 'value', 'd', 'd'],
    ['${VAR-d}', 'value', '', 'd'],
    ['${VAR:+alt}', 'alt', '', ''],
    ['${VAR+alt}', 'alt', 'alt', ''],
  ];
  for (const [tpl, set, empty, unset] of cases) {
    assert.equal(interp(tpl.replace('VAR', 'SET')).out, set, `${tpl} set`);
    assert.equal(interp(tpl.replace('VAR', 'EMPTY')).out, empty, `${tpl} empty`);
    assert.equal(interp(tpl.replace('VAR', 'NOPE')).out, unset, `${tpl} unset`);
  }
});

test('required variables: :? fails on unset and empty, ? only on unset, with the message', () => {
  assert.equal(interp('${SET:?need it}').out, 'value');
  assert.equal(interp('${SET?need it}').out, 'value');
  assert.equal(interp('${EMPTY?need it}').out, '');
  assert.throws(() => interp('${EMPTY:?need it}'), (e: unknown) => e instanceof InterpolationError && e.message === 'required variable EMPTY is empty: need it');
  assert.throws(() => interp('${NOPE:?need it}'), /^Error: required variable NOPE is missing: need it$|required variable NOPE is missing: need it/);
  assert.throws(() => interp('${NOPE?}'), (e: unknown) => e instanceof InterpolationError && e.message === 'required variable NOPE is missing');
});

test('only the unset variables without a default are reported', () => {
  assert.deepEqual(interp('${NOPE}-$NOPE2-${NOPE3:-x}-${NOPE4-y}-${NOPE5:+z}').unset, ['NOPE', 'NOPE2']);
  assert.deepEqual(interp('${SET}').unset, []);
});

test('nesting in the default, error and alternative words; lazily evaluated', () => {
  assert.equal(interp('${NOPE:-${FALLBACK}}').out, 'fallback');
  assert.equal(interp('${NOPE:-${NOPE2:-deep}}').out, 'deep');
  assert.equal(interp('${SET:+[${N}]}').out, '[3]');
  assert.equal(interp('${SET:-${NOPE:?never evaluated}}').out, 'value');
  assert.throws(() => interp('${NOPE?missing $FALLBACK}'), /required variable NOPE is missing: missing fallback/);
  assert.equal(interp('${NOPE:-a}b${SET}c').out, 'abvaluec');
});

test('$$ is a literal dollar and stops interpolation; a lone $ stays', () => {
  assert.equal(interp('$$').out, '$');
  assert.equal(interp('$${SET}').out, '${SET}');
  assert.equal(interp('$$SET').out, '$SET');
  assert.equal(interp('cost: $$5').out, 'cost: $5');
  assert.equal(interp('5$').out, '5$');
  assert.equal(interp('a $ b').out, 'a $ b');
  assert.equal(interp('$1abc').out, '$1abc');
  assert.equal(interp('$$$SET').out, '$value');
  assert.equal(interp('${NOPE:-$$}').out, '$');
});

test('names: $VAR ends at the first non-name character', () => {
  assert.equal(interp('$SET.x').out, 'value.x');
  assert.equal(interp('$SET_x').out, ''); // SET_x is one (unset) name
  assert.equal(interp('${SET}_x').out, 'value_x');
});

test('malformed expressions are errors', () => {
  assert.throws(() => interp('${SET'), /never closed/);
  assert.throws(() => interp('${}'), /does not start with a variable name/);
  assert.throws(() => interp('${SET/a/b}'), /invalid interpolation format/);
  assert.throws(() => interp('${1X}'), /does not start with a variable name/);
});

test('referencedVariables lists the names a text uses, not escaped ones', () => {
  assert.deepEqual(referencedVariables('${A} $B ${C:-${D}} $$E $${F} x'), ['A', 'B', 'C', 'D']);
});

test('dotenv: comments, export, quotes, inline comments, interpolation of earlier lines', () => {
  const text = [
    '# comment',
    '',
    'A=1',
    'export B=two words ',
    "C='single $A # not a comment'",
    'D="double $A\\n\\"q\\""',
    'E=unquoted # comment',
    'F=x#y',
    'G=${A}-${H:-dflt}',
    'MULTI="line1',
    'line2"',
    'FROM_ENV',
    'EMPTY=',
  ].join('\n');
  const out = parseDotenv(text, (k) => (k === 'FROM_ENV' ? 'shell' : undefined));
  assert.deepEqual(out, {
    A: '1',
    B: 'two words',
    C: 'single $A # not a comment',
    D: 'double 1\n"q"',
    E: 'unquoted',
    F: 'x#y',
    G: '1-dflt',
    MULTI: 'line1\nline2',
    FROM_ENV: 'shell',
    EMPTY: '',
  });
});

test('dotenv: a bad name or an unclosed quote names the line', () => {
  assert.throws(() => parseDotenv('A=1\n1BAD=x'), (e: unknown) => e instanceof DotenvError && e.line === 2);
  assert.throws(() => parseDotenv('A=1\nB="open\nC=3'), (e: unknown) => e instanceof DotenvError && e.line === 2 && /never closed/.test(e.message));
});
