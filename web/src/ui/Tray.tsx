import { createSignal, For, onCleanup, Show } from 'solid-js';
import { Glyph, Icon } from './Icon';
import { formatSize } from './format';
import * as uploads from './uploads';

const phaseText: Record<string, string> = {
  queued: 'Waiting…', preparing: 'Preparing…', uploading: 'Uploading', pausing: 'Pausing…', paused: 'Paused', committing: 'Finishing…',
  done: 'Done', error: 'Failed', cancelling: 'Cancelling…', cancelled: 'Cancelled', interrupted: 'Interrupted',
};
/** Phases that show how far the upload got. */
const counting = (t: uploads.Task) => ['uploading', 'pausing', 'paused'].includes(t.phase) || (t.phase === 'preparing' && t.done > 0);

/**
 * Keeps `--tray-height` on the document at the tray's height (0 without it): the file list adds
 * that much room below its last row, so rows under the tray can be scrolled above it.
 */
function reserveSpace(el: HTMLElement): void {
  const root = document.documentElement.style;
  const ro = new ResizeObserver(() => root.setProperty('--tray-height', `${el.offsetHeight + 16}px`));
  ro.observe(el);
  onCleanup(() => {
    ro.disconnect();
    root.removeProperty('--tray-height');
  });
}

export function Tray() {
  const [collapsed, setCollapsed] = createSignal(false);
  const [note, setNote] = createSignal('');
  const active = () => uploads.tasks.filter((t) => !['done', 'error', 'cancelled', 'interrupted'].includes(t.phase)).length;
  return (
    <Show when={uploads.tasks.length > 0 || uploads.interrupted().length > 0}>
      <section class="tray" aria-label="Uploads" data-testid="upload-tray" ref={reserveSpace}>
        <header>
          <span aria-live="polite">{active() > 0 ? `Uploading ${active()} item${active() === 1 ? '' : 's'}` : uploads.tasks.length > 0 ? 'Uploads finished' : 'Interrupted uploads'}</span>
          <span class="spacer" />
          <Show when={active() === 0}><button type="button" class="link" onClick={uploads.clearFinished}>Clear</button></Show>
          <button type="button" class="icon" aria-expanded={!collapsed()} aria-label={collapsed() ? 'Show uploads' : 'Hide uploads'} onClick={() => setCollapsed(!collapsed())}><Glyph kind={collapsed() ? 'expand' : 'collapse'} /></button>
        </header>
        <Show when={!collapsed()}>
          <Show when={uploads.interrupted().length > 0}>
            <ul aria-label="Interrupted uploads">
              <For each={uploads.interrupted()}>
                {(i) => {
                  let pick!: HTMLInputElement;
                  return (
                    <li data-interrupted={i.name}>
                      <Icon kind="file" mime="" name={i.name} />
                      <div style={{ 'min-width': 0 }}>
                        <div class="tname" title={i.name}>{i.name}</div>
                        <div class="tstate">Interrupted · {formatSize(i.size)} · select the file again to resume</div>
                      </div>
                      <div class="tbtns">
                        <input ref={pick} type="file" class="sr-only" tabindex="-1" aria-hidden="true" onChange={(e) => {
                          const f = e.currentTarget.files?.[0];
                          e.currentTarget.value = '';
                          if (f && !uploads.resumeInterrupted(i, f)) setNote(`“${f.name}” is not the interrupted file (name, size or date differ).`);
                        }} />
                        <button type="button" aria-label={`Resume ${i.name}`} onClick={() => pick.click()}><Glyph kind="play" /></button>
                        <button type="button" aria-label={`Discard ${i.name}`} onClick={() => void uploads.discardInterrupted(i.key)}><Glyph kind="close" /></button>
                      </div>
                    </li>
                  );
                }}
              </For>
            </ul>
            <p class="tstate error" role="alert" style={{ padding: '0 12px' }}>{note()}</p>
          </Show>
          <ul>
            <For each={uploads.tasks}>
              {(t) => (
                <li data-upload={t.name} data-phase={t.phase}>
                  <Icon kind="file" mime={t.mime} name={t.name} />
                  <div style={{ 'min-width': 0 }}>
                    <div class="tname" title={t.name}>{t.name}</div>
                    <Show when={counting(t) || t.phase === 'committing'}>
                      <progress max={t.size || 1} value={t.done} aria-label={`${t.name} upload progress`} />
                    </Show>
                    <div class="tstate" classList={{ error: t.phase === 'error' }}>
                      {phaseText[t.phase]}
                      {counting(t) ? ` ${formatSize(t.done)} of ${formatSize(t.size)}` : ''}
                      {t.phase === 'done' ? ` · ${formatSize(t.size)}${t.unchanged ? ' · unchanged, no new version' : ''}` : ''}
                      {t.error ? `: ${t.error}` : ''}
                    </div>
                  </div>
                  <div class="tbtns">
                    <Show when={t.phase === 'uploading' || t.phase === 'preparing'}>
                      <button type="button" aria-label={`Pause ${t.name}`} onClick={() => uploads.pause(t.id)}><Glyph kind="pause" /></button>
                    </Show>
                    <Show when={['pausing', 'paused', 'interrupted', 'error', 'cancelled'].includes(t.phase)}>
                      <button type="button" aria-label={`${t.phase === 'error' || t.phase === 'cancelled' ? 'Retry' : 'Resume'} ${t.name}`} onClick={() => uploads.resume(t.id)}><Glyph kind="play" /></button>
                    </Show>
                    {/* Not while it is being saved: a cancel then could not undo it. */}
                    <Show when={!['done', 'error', 'cancelled', 'interrupted', 'cancelling', 'committing'].includes(t.phase)}>
                      <button type="button" aria-label={`Cancel ${t.name}`} onClick={() => uploads.cancel(t.id)}><Glyph kind="close" /></button>
                    </Show>
                  </div>
                </li>
              )}
            </For>
          </ul>
        </Show>
      </section>
    </Show>
  );
}
