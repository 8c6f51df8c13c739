import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cycleAnswersAsk } from '../../src/core/volumes/snapshot-ask.ts';

describe('a snapshot ask answered by the cycle it waited for (cycleAnswersAsk)', () => {
  const asked = 1_000;
  it('a cycle frozen at or after the ask answers it', () => {
    assert.equal(cycleAnswersAsk({ frozenAt: asked }, asked), true);
    assert.equal(cycleAnswersAsk({ frozenAt: asked + 500 }, asked), true);
  });
  it('frozen before the ask: writes made just before the ask may be missing, so not', () => {
    assert.equal(cycleAnswersAsk({ frozenAt: asked - 1 }, asked), false);
  });
  it('a cycle that never froze, or none: the ask takes its own', () => {
    assert.equal(cycleAnswersAsk({ frozenAt: Infinity }, asked), false);
    assert.equal(cycleAnswersAsk(undefined, asked), false);
  });
});
