import { render } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import { base, call, live, snapshot, startLive } from './connection.ts';
import { CreateService } from './create-form.tsx';
import { Overview } from './overview.tsx';
import { watchPolicy } from './policy.ts';
import { route } from './route.ts';
import { ServiceDetail, ServiceList } from './services.tsx';
import { DeployStack } from './stack-deploy.tsx';
import { StackDetail, StackList } from './stacks.tsx';
import { VolumeDetail, VolumeList } from './volumes.tsx';
import { loginError, loginFromFragment, session, setSession } from './session.ts';
import './style.css';

/** Without a session: how to get in, and nothing else of the cluster. */
function Login() {
  return (
    <main id="main" class="login">
      <h1>Warren</h1>
      {loginError.value && <p class="error" role="alert">{loginError.value}</p>}
      <p>To open this page, ask for a login link on a machine of the cluster:</p>
      <pre><code>warren ui</code></pre>
      <p>It prints a link that works once, for 2 minutes. <code>warren ui --read-only</code> gives a session that can look but not change.</p>
    </main>
  );
}

function Page() {
  const r = route.value;
  const detail = /^#\/services\/([a-z0-9-]+)$/.exec(r);
  if (detail) return <ServiceDetail name={detail[1]!} />;
  if (r === '#/services') return <ServiceList />;
  const stack = /^#\/stacks\/([a-z0-9][a-z0-9_-]*)$/.exec(r);
  if (stack) return <StackDetail name={stack[1]!} />;
  if (r === '#/stacks') return <StackList />;
  const volume = /^#\/volumes\/([A-Za-z0-9][A-Za-z0-9_.-]*)$/.exec(r);
  if (volume) return <VolumeDetail name={volume[1]!} />;
  if (r === '#/volumes') return <VolumeList />;
  if (r === '#/deploy' && !session.value?.readOnly) return <DeployStack />;
  if (r === '#/new' && !session.value?.readOnly) return <CreateService />;
  return <Overview />;
}

function Shell() {
  // a session swapped by another tab (session.ts) restarts the stream with its token
  const token = session.value?.token;
  useEffect(() => startLive(), [token]);
  useEffect(() => watchPolicy(), []);
  const r = route.value;
  // a new view takes the focus (a keyboard user goes on from its top, as after a page load)
  const first = useRef(true);
  useEffect(() => {
    if (!first.current) document.getElementById('main')?.focus();
    first.current = false;
  }, [r]);
  const self = snapshot.value?.members.find((m) => m.api === base.value);
  const logout = async () => {
    await call('POST', '/v1/ui/logout').catch(() => undefined);
    setSession(undefined);
  };
  const link = (href: string, text: string, current: boolean) => <a href={href} aria-current={current ? 'page' : undefined}>{text}</a>;
  return (
    <>
      <a class="skip" href="#main">Skip to content</a>
      <header class="top">
        <span class="brand">Warren</span>
        <nav aria-label="main">
          {link('#/', 'Overview', r === '#/' || r === '')}
          {link('#/services', 'Services', r.startsWith('#/services'))}
          {link('#/stacks', 'Stacks', r.startsWith('#/stacks') || r === '#/deploy')}
          {link('#/volumes', 'Volumes', r.startsWith('#/volumes'))}
          {!session.value?.readOnly && link('#/new', 'New service', r === '#/new')}
        </nav>
        <span class={`conn ${live.value ? 'live' : 'down'}`} role="status" data-api={base.value}>
          {live.value ? `live via ${self?.name ?? new URL(base.value).host}` : 'reconnecting…'}
          {session.value?.readOnly ? ' · read-only' : ''}
        </span>
        <button type="button" onClick={logout}>Log out</button>
      </header>
      <main id="main" tabIndex={-1}>
        <Page />
      </main>
    </>
  );
}

function App() {
  return session.value ? <Shell /> : <Login />;
}

void loginFromFragment();
render(<App />, document.getElementById('app')!);
