import { signal } from '@preact/signals';
import { route } from './route.ts';

/** The web UI session: a bearer token kept in this origin's storage (never a cookie). */
export interface Session {
  token: string;
  readOnly: boolean;
}

const KEY = 'warren.session';

function load(): Session | undefined {
  try {
    const s = JSON.parse(localStorage.getItem(KEY) ?? 'null') as Session | null;
    return s && typeof s.token === 'string' ? s : undefined;
  } catch {
    return undefined;
  }
}

export const session = signal<Session | undefined>(load());
export const loginError = signal<string | undefined>(undefined);

export function setSession(s: Session | undefined): void {
  if (s) localStorage.setItem(KEY, JSON.stringify(s));
  else localStorage.removeItem(KEY);
  session.value = s;
}

/**
 * The agent refused `token` (ended or expired): this tab's session ends, and the stored one too if
 * it is that one. A tab that has logged in anew meanwhile keeps its new session, and this tab takes
 * it up.
 */
export function sessionRefused(token: string | undefined): void {
  const stored = load();
  if (token === undefined || session.value?.token !== token) return;
  if (stored?.token === token) localStorage.removeItem(KEY);
  session.value = stored?.token === token ? undefined : stored;
}

/**
 * Another tab of this node's address shares the storage: its login or logout reaches this tab at
 * once (a storage event fires in every other tab), so a tab never shows the cluster for a session
 * that was ended elsewhere. A null key is the storage cleared.
 */
addEventListener('storage', (e) => {
  if (e.storageArea !== localStorage || (e.key !== KEY && e.key !== null)) return;
  const next = load();
  if (next?.token !== session.value?.token || next?.readOnly !== session.value?.readOnly) session.value = next;
});

/**
 * A login link's ticket (#ticket=...) is traded for a session on this node, then removed from the
 * address bar and history, so it is never shown, bookmarked or sent anywhere.
 */
export async function loginFromFragment(): Promise<void> {
  // a page that moved here from another node's (policy.ts) names the view it showed
  const m = /^#ticket=([A-Za-z0-9_-]+)(?:&view=([^&]*))?$/.exec(location.hash);
  if (!m) return;
  let view = '#/';
  try {
    view = decodeURIComponent(m[2] ?? '#/');
  } catch {
    // a mangled view: the overview
  }
  history.replaceState(null, '', location.pathname + (/^#\/[A-Za-z0-9/_.-]*$/.test(view) ? view : '#/'));
  route.value = location.hash; // replaceState fires no hashchange
  // a 503 is the cluster's store not answering for a moment (the ticket is not spent): try again
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetch('/v1/ui/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ticket: m[1] }) });
      const body = (await res.json()) as { token?: string; session?: { readOnly: boolean }; error?: { message: string } };
      if (res.status === 503 && attempt < 4) {
        await new Promise((r) => setTimeout(r, 700));
        continue;
      }
      if (!res.ok || !body.token) throw new Error(body.error?.message ?? `login failed (${res.status})`);
      loginError.value = undefined;
      setSession({ token: body.token, readOnly: Boolean(body.session?.readOnly) });
    } catch (err) {
      loginError.value = (err as Error).message;
    }
    return;
  }
}
