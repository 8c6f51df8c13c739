import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  TICKET_TTL_MS, hostAllowed, hostName, isSessionToken, newTicketRecord, originAllowed, sessionIdOf, sessionMatches, sessionToken, sha256, ticketVerdict,
  type SessionRecord,
} from '../../src/core/ui-auth.ts';
import { prng } from '../helpers/prng.ts';

test('a ticket works from its creation until 2 minutes later, and never once used', () => {
  const t0 = 1_000_000;
  const rec = newTicketRecord(false, t0);
  assert.deepEqual(ticketVerdict(rec, t0), { ok: true });
  assert.deepEqual(ticketVerdict(rec, t0 + TICKET_TTL_MS - 1), { ok: true });
  assert.equal((ticketVerdict(rec, t0 + TICKET_TTL_MS) as { code: string }).code, 'ticket_expired');
  assert.equal((ticketVerdict({ ...rec, usedAt: t0 + 5 }, t0 + 10) as { code: string }).code, 'ticket_used');
  // used wins over expired: the message says what happened first
  assert.equal((ticketVerdict({ ...rec, usedAt: t0 + 5 }, t0 + TICKET_TTL_MS * 2) as { code: string }).code, 'ticket_used');
  assert.equal((ticketVerdict(undefined, t0) as { code: string }).code, 'ticket_unknown');
  assert.equal(newTicketRecord(true, t0).readOnly, true);
  // a move ticket names the session it moves, and is a ticket like any other (once, 2 minutes)
  assert.equal('moves' in newTicketRecord(false, t0), false);
  const move = newTicketRecord(true, t0, 'abcdefgh1234');
  assert.deepEqual(move, { readOnly: true, createdAt: t0, expiresAt: t0 + TICKET_TTL_MS, moves: 'abcdefgh1234' });
  assert.equal((ticketVerdict({ ...move, usedAt: t0 + 1 }, t0 + 2) as { code: string }).code, 'ticket_used');
});

test('randomized: a verdict is ok exactly when the ticket exists, is unused and is younger than 2 minutes', () => {
  const rnd = prng(15);
  for (let i = 0; i < 2000; i++) {
    const created = Math.floor(rnd() * 1e9);
    const exists = rnd() < 0.8;
    const used = rnd() < 0.3;
    const now = created + Math.floor((rnd() - 0.1) * TICKET_TTL_MS * 2);
    const rec = exists ? { ...newTicketRecord(rnd() < 0.5, created), ...(used ? { usedAt: created } : {}) } : undefined;
    const want = exists && !used && now < created + TICKET_TTL_MS;
    assert.equal(ticketVerdict(rec, now).ok, want, JSON.stringify({ rec, now }));
  }
});

test('session tokens: the id is readable, the secret only matches its hash, and expiry and forgery are refused', () => {
  const token = sessionToken('abcDEF123456', 'x'.repeat(43));
  assert.ok(isSessionToken(token));
  assert.equal(sessionIdOf(token), 'abcDEF123456');
  const rec: SessionRecord = { id: 'abcDEF123456', hash: sha256(token), readOnly: false, createdAt: 0, expiresAt: 1000, via: 'http://127.0.0.1:7370' };
  assert.ok(sessionMatches(rec, token, 999));
  assert.ok(!sessionMatches(rec, token, 1000), 'expired');
  assert.ok(!sessionMatches(rec, sessionToken('abcDEF123456', 'y'.repeat(43)), 5), 'wrong secret');
  assert.ok(!sessionMatches({ ...rec, id: 'other1234567' }, token, 5), 'another session\'s record');
  assert.ok(!sessionMatches(undefined, token, 5), 'revoked');
  for (const bad of ['', 'ws_', 'abc', 'ws_short.x', `ws_abcDEF123456.${'x'.repeat(43)} `, 'a'.repeat(64)]) assert.ok(!isSessionToken(bad), bad);
});

test('hosts: IP addresses and the node\'s own names pass; any other name (DNS rebinding) or none is refused', () => {
  const names = ['pi', 'pi.warren.internal'];
  for (const ok of ['127.62.0.2:7370', '10.0.0.5', '[::1]:7370', 'localhost:7370', 'PI:7370', 'pi.warren.internal:7370']) assert.ok(hostAllowed(ok, names), ok);
  for (const bad of [undefined, '', 'evil.example:7370', 'pi.evil.example', '127.0.0.1.evil.example:7370', 'warren.internal']) assert.ok(!hostAllowed(bad, names), String(bad));
  assert.equal(hostName('[fe80::1]:7370'), 'fe80::1');
  assert.equal(hostName('Node:80'), 'node');
});

test('origins: none (CLI, curl), the page\'s own, or a member\'s API pass; anything else is refused', () => {
  const apis = ['http://127.62.0.2:7370', 'http://127.62.0.3:7370'];
  assert.ok(originAllowed(undefined, '127.62.0.2:7370', apis));
  assert.ok(originAllowed('http://127.62.0.2:7370', '127.62.0.2:7370', apis), 'same origin');
  assert.ok(originAllowed('http://127.62.0.3:7370', '127.62.0.2:7370', apis), 'a page served by another member');
  assert.ok(originAllowed('http://pi:7370', 'pi:7370', apis), 'same origin under the node name');
  for (const bad of ['http://127.62.0.9:7370', 'http://127.62.0.2:80', 'https://127.62.0.2:7370', 'null', 'http://evil.example', 'http://127.62.0.2:7370/path', 'not a url']) {
    assert.ok(!originAllowed(bad, '127.62.0.2:7370', apis), bad);
  }
});
