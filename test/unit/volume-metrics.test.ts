/** The replicated volumes' lines of /metrics (src/http/metrics.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderMetrics } from '../../src/http/metrics.ts';

test('volumes: data at risk per volume (-1 with no second copy yet), last pause, last apply, bytes sent and received', () => {
  const text = renderMetrics({
    members: [], dropped: new Map(), uptimeMs: 1, streams: 0,
    volumes: { atRisk: [{ volume: 'web_data', ms: 1500 }, { volume: 'db_data', ms: null }], pauseMs: new Map([['web_data', 12.5]]), applyMs: new Map([['db_data', 340]]), sentBytes: 4096, receivedBytes: 8192 },
  });
  assert.match(text, /^warren_volume_at_risk_seconds\{volume="web_data"\} 1\.500$/m);
  assert.match(text, /^warren_volume_at_risk_seconds\{volume="db_data"\} -1$/m);
  assert.match(text, /^warren_volume_snapshot_pause_ms\{volume="web_data"\} 12\.5$/m);
  assert.match(text, /^warren_volume_apply_ms\{volume="db_data"\} 340$/m);
  assert.match(text, /^warren_volume_sent_bytes_total 4096$/m);
  assert.match(text, /^warren_volume_received_bytes_total 8192$/m);
  assert.doesNotMatch(renderMetrics({ members: [], dropped: new Map(), uptimeMs: 1, streams: 0 }), /warren_volume_/);
});
