/**
 * Every unit test file, run in this one process. `node --test` gives each file its own process,
 * and starting one (Node, the TypeScript loader, the modules a file imports) costs about as much
 * as a whole unit file's tests: one process for all of them saves minutes of the suite.
 * A unit test file therefore must not leave global state behind (env, timers, listeners).
 */
import { readdirSync } from 'node:fs';

const dir = new URL('./unit/', import.meta.url);
for (const file of readdirSync(dir).filter((f) => f.endsWith('.test.ts')).sort()) await import(new URL(file, dir).href);
