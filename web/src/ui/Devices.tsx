// The account's devices (format §4.3, docs/api.md §Devices): each browser profile that opened the
// vault and each command line logged in, by the name it sealed for itself, when it was added and
// last seen. Removing one ends its sessions at once, so it must log in again; this browser is left
// with "Log out" instead. A device's name opens only here, in the crypto worker.
import { createSignal, For, onMount, Show } from 'solid-js';
import * as facade from '../crypto/facade';
import type { DeviceInfo } from '../crypto/types';
import { api, errorCode } from '../http';
import { formatDate } from './format';

const nameOf = (d: DeviceInfo) => d.name ?? '(name unreadable)';

export function Devices(props: { say: (s: string) => void; fail: (err: unknown) => void }) {
  const [rows, setRows] = createSignal<DeviceInfo[] | null>(null);
  const [busy, setBusy] = createSignal(false);

  /** Lists the devices again; `said`: what the status line says then (else how many there are). */
  const load = async (said?: string) => {
    try {
      const devices = await facade.call('devices');
      setRows([...devices.filter((d) => d.current), ...devices.filter((d) => !d.current)]);
      props.say(said ?? `${devices.length} device${devices.length === 1 ? '' : 's'}.`);
    } catch (err) { props.fail(err); }
  };

  const remove = async (d: DeviceInfo) => {
    const name = nameOf(d);
    if (!confirm(`Remove “${name}”? It is logged out at once and must log in again with the passphrase to open the vault. Your files are not touched.`)) return;
    setBusy(true);
    try {
      await api(`/api/devices/${d.deviceId}`, { method: 'DELETE' }).catch((err: unknown) => {
        if (errorCode(err) !== 'NOT_FOUND') throw err; // removed meanwhile, elsewhere: as good
      });
      await load(`Removed “${name}”: it is logged out.`);
    } catch (err) { props.fail(err); } finally {
      setBusy(false);
    }
  };

  onMount(() => void load());

  return (
    <div class="list" style={{ padding: '8px', overflow: 'auto' }}>
      <Show when={rows()} fallback={<p class="empty">Loading…</p>}>
        <table class="links-table" aria-label="Devices" style={{ width: '100%', 'border-collapse': 'collapse' }}>
          <thead><tr><th align="left">Device</th><th align="left">Added</th><th align="left">Last seen</th><th><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>
            <For each={rows()}>
              {(d) => (
                <tr data-device={d.deviceId} data-current={d.current}>
                  <td>
                    {nameOf(d)}
                    <Show when={d.current}><br /><span class="hint">This browser</span></Show>
                  </td>
                  <td>{formatDate(d.createdAt)}</td>
                  {/* Its registration is the first time it was seen; the server records later ones. */}
                  <td>{formatDate(d.lastSeenAt ?? d.createdAt)}</td>
                  <td>
                    <Show when={!d.current}>
                      <button type="button" class="danger" disabled={busy()} aria-label={`Remove ${nameOf(d)}, added ${formatDate(d.createdAt)}`}
                        onClick={() => void remove(d)}>Remove</button>
                    </Show>
                  </td>
                </tr>
              )}
            </For>
          </tbody>
        </table>
        <p class="hint">
          Removing a device logs it out at once: to open the vault there again, it must log in with the
          passphrase. Your files are not touched, and it keeps what it already downloaded. This browser
          leaves with “Log out”.
        </p>
      </Show>
    </div>
  );
}
