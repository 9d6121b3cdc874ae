// The account's sessions (docs/api.md §Authentication): where it is logged in, since when, last
// used, and when each session ends on its own; any but this one can be ended from here (this one
// ends with "Log out"). A session says which kind of client opened it and, once that client told
// the server, which of the account's devices it is (its name opened in the crypto worker).
import { createSignal, For, onMount, Show } from 'solid-js';
import * as facade from '../crypto/facade';
import { api, errorCode } from '../http';
import { formatDate } from './format';

interface SessionRow {
  id: string; client: 'web' | 'cli'; createdAt: string; lastSeenAt: string; endsAt: string; current: boolean;
  deviceId?: string | null;
}

const CLIENT_NAMES = { web: 'Web vault', cli: 'Command line or desktop agent' } as const;

export function Sessions(props: { say: (s: string) => void; fail: (err: unknown) => void }) {
  const [rows, setRows] = createSignal<SessionRow[] | null>(null);
  const [busy, setBusy] = createSignal(false);
  const [deviceNames, setDeviceNames] = createSignal<Record<string, string>>({});

  const load = async () => {
    // Names are a help, not the list: a session whose device's name did not open is shown without.
    facade.call('deviceNames').then(setDeviceNames, () => {});
    try {
      const { sessions } = await api<{ sessions: SessionRow[] }>('/api/auth/sessions');
      setRows([...sessions.filter((x) => x.current), ...sessions.filter((x) => !x.current)]);
      props.say(`${sessions.length} session${sessions.length === 1 ? '' : 's'}.`);
    } catch (err) { props.fail(err); }
  };

  const end = async (ids: string[]) => {
    setBusy(true);
    let ended = 0;
    try {
      for (const id of ids) {
        await api(`/api/auth/sessions/${id}`, { method: 'DELETE' }).catch((err: unknown) => {
          if (errorCode(err) !== 'NOT_FOUND') throw err; // ended meanwhile, elsewhere: as good
        });
        ended += 1;
      }
      props.say(ended === 1 ? 'Session ended.' : `${ended} sessions ended.`);
    } catch (err) { props.fail(err); } finally {
      setBusy(false);
      void load();
    }
  };

  onMount(() => void load());
  const others = () => (rows() ?? []).filter((s) => !s.current);

  return (
    <div class="list" style={{ padding: '8px', overflow: 'auto' }}>
      <Show when={rows()} fallback={<p class="empty">Loading…</p>}>
        <table class="links-table" aria-label="Sessions" style={{ width: '100%', 'border-collapse': 'collapse' }}>
          <thead><tr><th align="left">Client</th><th align="left">Logged in</th><th align="left">Last used</th><th align="left">Ends</th><th><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>
            <For each={rows()}>
              {(s) => (
                <tr data-session={s.id} data-current={s.current}>
                  <td>
                    {CLIENT_NAMES[s.client] ?? s.client}{s.current ? ' (this one)' : ''}
                    <Show when={s.deviceId && deviceNames()[s.deviceId]}>{(name) => <><br /><span class="hint">{name()}</span></>}</Show>
                  </td>
                  <td>{formatDate(Date.parse(s.createdAt))}</td>
                  <td>{formatDate(Date.parse(s.lastSeenAt))}</td>
                  <td title="Unless used again, a session ends after a while; every session ends some time after its log-in">{formatDate(Date.parse(s.endsAt))}</td>
                  <td>
                    <Show when={!s.current}>
                      <button type="button" class="danger" disabled={busy()} aria-label={`End the ${CLIENT_NAMES[s.client] ?? s.client} session logged in ${formatDate(Date.parse(s.createdAt))}`}
                        onClick={() => void end([s.id])}>End</button>
                    </Show>
                  </td>
                </tr>
              )}
            </For>
          </tbody>
        </table>
        <p class="hint">
          Ending a session logs that client out at once; it cannot read anything more from the server. A
          device that kept its keys can still read what it already downloaded.
        </p>
        <Show when={others().length > 0}>
          <button type="button" class="danger" style={{ 'align-self': 'flex-start' }} disabled={busy()} onClick={() => void end(others().map((s) => s.id))}>
            End all other sessions
          </button>
        </Show>
      </Show>
    </div>
  );
}
