import { base, call, live, snapshot } from './connection.ts';
import { route } from './route.ts';

/**
 * The page's Content-Security-Policy lets it connect only to the members known when it was
 * loaded (the page names them in <meta name="warren-connect">, from the same list as the
 * header). A member that joins later is out of its reach, so the page could not fail over to
 * it. While its own node answers, the page reloads itself to get a policy naming the new
 * member: the session (local storage) and the view (#route) survive the reload.
 * When its own node is dead it cannot reload from there: it moves to the page of the node it
 * talks to now, whose policy names the new member (the session moves with a one-time ticket,
 * POST /v1/ui/move; the view goes along in the link).
 * It never reloads while someone is typing in a form, nor twice for the same member (a member
 * the node's policy leaves out for good would otherwise reload the page forever).
 */
const allowed = new Set(((document.querySelector('meta[name="warren-connect"]') as HTMLMetaElement | null)?.content ?? '').split(' ').filter(Boolean));
allowed.add(location.origin);
const TRIED_KEY = 'warren.policyReloads';
const CHECK_MS = 1000;

function tried(): string[] {
  try {
    return JSON.parse(sessionStorage.getItem(TRIED_KEY) ?? '[]') as string[];
  } catch {
    return [];
  }
}

/** Origins of members the page should reach but its policy does not allow (nor was reloaded for). */
export function outOfReach(): string[] {
  const done = new Set(tried());
  const out = new Set<string>();
  for (const m of snapshot.value?.members ?? []) {
    if (!m.api || m.state === 'dead' || m.state === 'left' || m.state === 'pending') continue;
    const origin = new URL(m.api).origin;
    if (!allowed.has(origin) && !done.has(origin)) out.add(origin);
  }
  return [...out];
}

function editing(): boolean {
  const el = document.activeElement;
  return route.value === '#/new' || route.value === '#/deploy' || (el !== null && ['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName));
}

async function ownNodeAnswers(): Promise<boolean> {
  try {
    // any answer will do (503 is an unhealthy store, and the page itself is served from memory)
    await fetch(`${location.origin}/v1/health`, { signal: AbortSignal.timeout(1500) });
    return true;
  } catch {
    return false;
  }
}

/** To the page of the live node `via` (another origin: the session moves by a ticket). */
async function moveTo(via: string): Promise<void> {
  const moved = await call<{ url: string }>('POST', '/v1/ui/move', {}).catch(() => undefined);
  // the ticket is for the node that made it: only follow it there
  if (!moved || new URL(moved.url).origin !== new URL(via).origin) return;
  location.replace(`${moved.url}&view=${encodeURIComponent(route.value)}`);
}

let busy = false;
async function check(): Promise<void> {
  const missing = outOfReach();
  if (busy || missing.length === 0 || editing()) return;
  const away = base.value !== location.origin;
  // away: only while the node it talks to answers (the move goes through it)
  if (away && !live.value) return;
  busy = true;
  try {
    const own = await ownNodeAnswers();
    if (away) {
      if (!own) await moveTo(base.value);
      return;
    }
    if (!own) return;
    sessionStorage.setItem(TRIED_KEY, JSON.stringify([...tried(), ...missing].slice(-50)));
    location.reload();
  } finally {
    busy = false;
  }
}

/** Starts watching for members out of the policy's reach (for as long as the page lives). */
export function watchPolicy(): () => void {
  document.documentElement.dataset.connect = [...allowed].join(' ');
  // a reload that worked: its members may be tried again should they ever drop out and return
  sessionStorage.setItem(TRIED_KEY, JSON.stringify(tried().filter((o) => !allowed.has(o))));
  const timer = setInterval(() => void check(), CHECK_MS);
  return () => clearInterval(timer);
}
