import { createSignal, Match, onCleanup, onMount, Switch } from 'solid-js';
import * as facade from '../crypto/facade';
import type { SessionInfo } from '../crypto/types';
import { api, ApiError, describeError, onSessionEnded, session } from '../http';
import { Login, RecoveryCode, Signup, Unlock } from './Auth';
import { registerDownloadWorker } from './download';
import { Vault } from './Vault';

type Screen = 'checking' | 'login' | 'signup' | 'recovery' | 'locked' | 'vault';

export function App() {
  const [screen, setScreen] = createSignal<Screen>('checking');
  const [info, setInfo] = createSignal<SessionInfo | null>(null);
  const [code, setCode] = createSignal('');
  const [email, setEmail] = createSignal('');
  const [notice, setNotice] = createSignal('');

  onMount(async () => {
    void registerDownloadWorker();
    try {
      // The browser's session (its cookie, shared by every tab) is still live: this tab only needs
      // the passphrase to open the keys, and takes the session's CSRF token from the answer.
      const acct = await api<{ accountId: string; email: string; csrfToken?: string }>('/api/account');
      setEmail(acct.email);
      session.csrfToken = acct.csrfToken ?? null;
      session.accountId = acct.accountId;
      setScreen('locked');
    } catch (err) {
      if (err instanceof ApiError && err.code === 'UNREACHABLE') setNotice(describeError(err));
      setScreen('login');
    }
  });

  const opened = (s: SessionInfo) => {
    session.csrfToken = s.csrfToken;
    session.accountId = s.accountId;
    setEmail(s.email);
    setInfo(s);
  };

  const lock = () => {
    facade.lock(); // the worker holding every key is terminated
    setInfo(null);
    setScreen('locked');
  };

  const logout = async () => {
    try {
      await api('/api/auth/logout', { method: 'POST' });
    } catch {
      /* the session is dropped locally either way */
    }
    leave('You are logged out.');
  };

  /** Drops the keys and everything of the session in this browser, and asks for a log-in. */
  const leave = (why: string) => {
    facade.lock();
    indexedDB.deleteDatabase('coffer-cache'); // the listing cache (worker.ts): sealed, but of no use now
    session.csrfToken = null;
    session.accountId = null;
    setInfo(null);
    setNotice(why);
    setScreen('login');
  };

  // The session ended elsewhere (another device ended it, or it expired): the vault must not stay
  // open with its keys in a tab that can no longer reach the server as this user.
  onSessionEnded(() => {
    if (screen() === 'vault' || screen() === 'locked' || screen() === 'recovery') {
      leave(describeError(new ApiError('UNAUTHENTICATED', '', 401)));
    }
  });
  onCleanup(() => onSessionEnded(null));

  return (
    <Switch>
      <Match when={screen() === 'checking'}>
        <main class="center" aria-busy="true"><p>Loading…</p></main>
      </Match>
      <Match when={screen() === 'login'}>
        <Login
          email={email()}
          notice={notice()}
          onDone={(s) => { opened(s); setNotice(''); setScreen('vault'); }}
          onSignup={() => { setNotice(''); setScreen('signup'); }}
        />
      </Match>
      <Match when={screen() === 'signup'}>
        <Signup
          onDone={(s) => { opened(s); setCode(s.recoveryCode); setScreen('recovery'); }}
          onLogin={() => setScreen('login')}
        />
      </Match>
      <Match when={screen() === 'recovery'}>
        <RecoveryCode code={code()} onDone={() => { setCode(''); setScreen('vault'); }} />
      </Match>
      <Match when={screen() === 'locked'}>
        <Unlock
          email={email()}
          onDone={(s) => { opened({ ...s, csrfToken: session.csrfToken }); setScreen('vault'); }}
          onLogout={logout}
        />
      </Match>
      <Match when={screen() === 'vault' && info()}>
        <Vault info={info()!} onLock={lock} onLogout={logout} />
      </Match>
    </Switch>
  );
}
