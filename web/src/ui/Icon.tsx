// File-type icons as inline SVG (no icon font, no emoji font needed; CSP-safe).
import { Show } from 'solid-js';
import { cycleTheme, theme } from './theme';

export type IconKind = 'folder' | 'image' | 'video' | 'audio' | 'pdf' | 'text' | 'archive' | 'file';

export function kindOf(kind: 'file' | 'folder', mime: string, name: string): IconKind {
  if (kind === 'folder') return 'folder';
  const ext = name.toLowerCase().split('.').pop() ?? '';
  if (mime.startsWith('image/') || ['png', 'jpg', 'jpeg', 'gif', 'webp', 'avif', 'svg'].includes(ext)) return 'image';
  if (mime.startsWith('video/') || ['mp4', 'mov', 'mkv', 'webm'].includes(ext)) return 'video';
  if (mime.startsWith('audio/') || ['mp3', 'wav', 'flac', 'ogg', 'm4a'].includes(ext)) return 'audio';
  if (mime === 'application/pdf' || ext === 'pdf') return 'pdf';
  if (mime.startsWith('text/') || ['md', 'txt', 'json', 'csv', 'ts', 'js', 'log', 'yml', 'yaml', 'xml', 'html', 'css'].includes(ext)) return 'text';
  if (['zip', 'gz', 'tar', '7z', 'xz', 'bz2', 'rar', 'zst'].includes(ext)) return 'archive';
  return 'file';
}

// Each badge colour holds its white letters at 4.5:1 or more (WCAG 1.4.3); axe cannot measure
// text drawn over an SVG shape, so this is checked by hand.
const COLORS: Record<IconKind, string> = {
  folder: '#d9a23a', image: '#2a7d4f', video: '#8a4fbf', audio: '#b44a70', pdf: '#c0392b', text: '#3b6ea5', archive: '#7a6a4f', file: '#6b7a8c',
};
// In the dark theme the same hues, lighter: on the dark row those outlines were ~3:1 (2.5:1 on a
// focused row); these are 4.5:1 or more on both (5.6:1 on a plain row), and the badge's letters
// turn dark, 5.6:1 on them (styles.css picks the set by theme).
const DARK: Record<IconKind, string> = {
  folder: '#d9a23a', image: '#6ca586', video: '#b189d4', audio: '#cc849e', pdf: '#d78279', text: '#7a9cc2', archive: '#a29784', file: '#8f9aa8',
};
const LABELS: Partial<Record<IconKind, string>> = { image: 'IMG', video: 'VID', audio: 'AUD', pdf: 'PDF', text: 'TXT', archive: 'ZIP' };

export function Icon(props: { kind: 'file' | 'folder'; mime: string; name: string }) {
  const k = () => kindOf(props.kind, props.mime, props.name);
  return (
    <svg class="ficon" width="22" height="22" viewBox="0 0 24 24" aria-hidden="true" style={{ '--ficon-light': COLORS[k()], '--ficon-dark': DARK[k()] }}>
      <Show when={k() === 'folder'} fallback={
        <>
          <path class="line" d="M6 2h8l5 5v14a1 1 0 0 1-1 1H6a1 1 0 0 1-1-1V3a1 1 0 0 1 1-1z" fill="none" stroke-width="1.6" />
          <path class="line" d="M14 2v5h5" fill="none" stroke-width="1.6" />
          <Show when={LABELS[k()]}>
            <rect class="badge" x="3" y="12" width="15" height="7" rx="1.5" />
            <text x="10.5" y="17.6" font-size="5.6" font-family="system-ui, sans-serif" font-weight="700" text-anchor="middle">{LABELS[k()]}</text>
          </Show>
        </>
      }>
        <path d="M2 6a2 2 0 0 1 2-2h5l2 2h9a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2z" fill={COLORS.folder} />
      </Show>
    </svg>
  );
}

export type GlyphKind = 'pause' | 'play' | 'close' | 'expand' | 'collapse' | 'sun' | 'moon' | 'system';

const GLYPHS: Record<GlyphKind, string> = {
  pause: 'M7 5h3v14H7zM14 5h3v14h-3z',
  play: 'M8 5l11 7-11 7z',
  close: 'M6.4 5L12 10.6 17.6 5 19 6.4 13.4 12 19 17.6 17.6 19 12 13.4 6.4 19 5 17.6 10.6 12 5 6.4z',
  expand: 'M7 15l5-5 5 5z',
  collapse: 'M7 9l5 5 5-5z',
  sun: 'M12 7a5 5 0 1 1 0 10 5 5 0 0 1 0-10zM11 1h2v3h-2zM11 20h2v3h-2zM1 11h3v2H1zM20 11h3v2h-3zM4.2 5.6l1.4-1.4 2.1 2.1-1.4 1.4zM16.3 17.7l1.4-1.4 2.1 2.1-1.4 1.4zM4.2 18.4l2.1-2.1 1.4 1.4-2.1 2.1zM16.3 6.3l2.1-2.1 1.4 1.4-2.1 2.1z',
  moon: 'M21 12.8A9 9 0 1 1 11.2 3a7 7 0 0 0 9.8 9.8z',
  // A ring, and its left half filled (even-odd: the half disc lies in the ring's hole).
  system: 'M12 2a10 10 0 1 1 0 20 10 10 0 0 1 0-20zM12 4a8 8 0 1 0 0 16 8 8 0 0 0 0-16zM12 4a8 8 0 0 0 0 16z',
};

/**
 * A button's symbol as inline SVG in the text colour. Characters such as ⏸ depend on the fonts a
 * system has (Debian's Chromium drew a missing-glyph box for it); a path does not.
 */
export function Glyph(props: { kind: GlyphKind }) {
  return (
    <svg class="glyph" width="16" height="16" viewBox="0 0 24 24" aria-hidden="true" data-glyph={props.kind}>
      <path d={GLYPHS[props.kind]} fill="currentColor" fill-rule="evenodd" />
    </svg>
  );
}

/** The button that cycles the theme (system, dark, light), showing the one in use. */
export function ThemeButton() {
  return (
    <button type="button" class="icon" onClick={cycleTheme} aria-label={`Theme: ${theme()}. Change theme`} title={`Theme: ${theme()}`}>
      <Glyph kind={theme() === 'dark' ? 'moon' : theme() === 'light' ? 'sun' : 'system'} />
    </button>
  );
}
