import { createSignal, onMount, Show } from 'solid-js';
import * as facade from '../crypto/facade';
import type { SessionInfo, SignupResult } from '../crypto/types';
import { describeError } from '../http';
import { passphraseBits, strengthLabel } from './format';

// Each screen replaces the one before it, and with it the element that had the keyboard: a screen
// gives it to its first field (or, for the recovery code, its heading), not to the page's <body>,
// from where the next Tab would start over at the top.

function Brand() {
  return (
    <div class="brand"><img src="/favicon.svg" alt="" />Coffer</div>
  );
}

export function Login(props: { email: string; notice: string; onDone: (s: SessionInfo) => void; onSignup: () => void }) {
  let emailField!: HTMLInputElement;
  let passField!: HTMLInputElement;
  onMount(() => {
    facade.warm();
    (props.email ? passField : emailField).focus();
  });
  const [email, setEmail] = createSignal(props.email);
  const [pass, setPass] = createSignal('');
  const [busy, setBusy] = createSignal(false);
  const [error, setError] = createSignal('');
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      props.onDone(await facade.call('login', email().trim(), pass()));
    } catch (err) {
      facade.lock();
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="center">
      <form class="card" onSubmit={submit} aria-labelledby="login-title">
        <Brand />
        <h1 id="login-title">Log in</h1>
        <p class="hint">Your files are encrypted in this tab. The server never sees your passphrase.</p>
        <Show when={props.notice}><p class="banner" role="status">{props.notice}</p></Show>
        <label for="login-email">E-mail</label>
        <input id="login-email" ref={emailField} type="email" autocomplete="username" required value={email()} onInput={(e) => setEmail(e.currentTarget.value)} />
        <label for="login-pass">Passphrase</label>
        <input id="login-pass" ref={passField} type="password" autocomplete="current-password" required value={pass()} onInput={(e) => setPass(e.currentTarget.value)} />
        <p class="error" role="alert" aria-live="assertive">{error()}</p>
        <div class="actions">
          <button class="primary" type="submit" disabled={busy()}>{busy() ? 'Unlocking…' : 'Log in'}</button>
          <button type="button" class="link" onClick={props.onSignup}>Create an account</button>
        </div>
      </form>
    </main>
  );
}

export function Signup(props: { onDone: (s: SignupResult) => void; onLogin: () => void }) {
  let emailField!: HTMLInputElement;
  onMount(() => {
    facade.warm();
    emailField.focus();
  });
  const [email, setEmail] = createSignal('');
  const [pass, setPass] = createSignal('');
  const [pass2, setPass2] = createSignal('');
  const [busy, setBusy] = createSignal(false);
  const [error, setError] = createSignal('');
  const bits = () => passphraseBits(pass());
  const strength = () => strengthLabel(bits());
  const submit = async (e: Event) => {
    e.preventDefault();
    setError('');
    if (pass() !== pass2()) return setError('The passphrases do not match.');
    if (bits() < 40) return setError('Choose a stronger passphrase: several unrelated words work well.');
    setBusy(true);
    try {
      props.onDone(await facade.call('signup', email().trim(), pass()));
    } catch (err) {
      facade.lock();
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="center">
      <form class="card" onSubmit={submit} aria-labelledby="signup-title">
        <Brand />
        <h1 id="signup-title">Create your vault</h1>
        <p class="hint">Nobody, including us, can reset your passphrase. You will get a recovery code.</p>
        <label for="su-email">E-mail</label>
        <input id="su-email" ref={emailField} type="email" autocomplete="username" required value={email()} onInput={(e) => setEmail(e.currentTarget.value)} />
        <label for="su-pass">Passphrase</label>
        <input id="su-pass" type="password" autocomplete="new-password" required aria-describedby="su-strength" value={pass()} onInput={(e) => setPass(e.currentTarget.value)} />
        <div class="meter" aria-hidden="true"><div style={{ width: `${strength().pct}%`, background: strength().color }} /></div>
        <p id="su-strength" class="hint" aria-live="polite">Strength: {pass() ? `${strength().label} (about ${bits()} bits)` : '—'}</p>
        <label for="su-pass2">Repeat passphrase</label>
        <input id="su-pass2" type="password" autocomplete="new-password" required value={pass2()} onInput={(e) => setPass2(e.currentTarget.value)} />
        <p class="error" role="alert" aria-live="assertive">{error()}</p>
        <div class="actions">
          <button class="primary" type="submit" disabled={busy()}>{busy() ? 'Creating…' : 'Create account'}</button>
          <button type="button" class="link" onClick={props.onLogin}>I have an account</button>
        </div>
      </form>
    </main>
  );
}

export function RecoveryCode(props: { code: string; onDone: () => void }) {
  const [saved, setSaved] = createSignal(false);
  const [copied, setCopied] = createSignal('');
  let title!: HTMLHeadingElement;
  onMount(() => title.focus());
  return (
    <main class="center">
      <div class="card" role="region" aria-labelledby="rc-title">
        <Brand />
        <h1 id="rc-title" ref={title} tabindex="-1">Save your recovery code</h1>
        <p>This code is shown <strong>once</strong>. It is the only way back into your vault if you forget your passphrase. Write it down or store it in a password manager.</p>
        <p class="code" data-testid="recovery-code">{props.code}</p>
        <div class="actions">
          <button type="button" onClick={async () => {
            try { await navigator.clipboard.writeText(props.code); setCopied('Copied.'); } catch { setCopied('Copy failed; select the code and copy it by hand.'); }
          }}>Copy code</button>
          <span class="hint" role="status">{copied()}</span>
        </div>
        <label style={{ display: 'flex', gap: '8px', 'align-items': 'center', 'font-weight': 'normal' }}>
          <input type="checkbox" checked={saved()} onChange={(e) => setSaved(e.currentTarget.checked)} />
          I have saved my recovery code
        </label>
        <div class="actions">
          <button class="primary" type="button" disabled={!saved()} onClick={props.onDone}>Continue to my vault</button>
        </div>
      </div>
    </main>
  );
}

export function Unlock(props: { email: string; onDone: (s: SessionInfo) => void; onLogout: () => void }) {
  let passField!: HTMLInputElement;
  onMount(() => {
    facade.warm();
    passField.focus();
  });
  const [pass, setPass] = createSignal('');
  const [busy, setBusy] = createSignal(false);
  const [error, setError] = createSignal('');
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      props.onDone(await facade.call('unlock', pass()));
      setPass('');
    } catch (err) {
      facade.lock();
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="center">
      <form class="card" onSubmit={submit} aria-labelledby="unlock-title">
        <Brand />
        <h1 id="unlock-title">Vault locked</h1>
        <p class="hint">{props.email}: enter your passphrase to unlock. Keys were removed from memory.</p>
        <label for="unlock-pass">Passphrase</label>
        <input id="unlock-pass" ref={passField} type="password" autocomplete="current-password" required value={pass()} onInput={(e) => setPass(e.currentTarget.value)} />
        <p class="error" role="alert" aria-live="assertive">{error()}</p>
        <div class="actions">
          <button class="primary" type="submit" disabled={busy()}>{busy() ? 'Unlocking…' : 'Unlock'}</button>
          <button type="button" class="link" onClick={props.onLogout}>Log out</button>
        </div>
      </form>
    </main>
  );
}
