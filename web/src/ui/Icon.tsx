// File-type icons as inline SVG (no icon font, no emoji font needed; CSP-safe).
import { Show } from 'solid-js';

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

const COLORS: Record<IconKind, string> = {
  folder: '#d9a23a', image: '#2e8b57', video: '#8a4fbf', audio: '#c2527a', pdf: '#c0392b', text: '#3b6ea5', archive: '#7a6a4f', file: '#6b7a8c',
};
const LABELS: Partial<Record<IconKind, string>> = { image: 'IMG', video: 'VID', audio: 'AUD', pdf: 'PDF', text: 'TXT', archive: 'ZIP' };

export function Icon(props: { kind: 'file' | 'folder'; mime: string; name: string }) {
  const k = () => kindOf(props.kind, props.mime, props.name);
  return (
    <svg class="ficon" width="22" height="22" viewBox="0 0 24 24" aria-hidden="true">
      <Show when={k() === 'folder'} fallback={
        <>
          <path d="M6 2h8l5 5v14a1 1 0 0 1-1 1H6a1 1 0 0 1-1-1V3a1 1 0 0 1 1-1z" fill="none" stroke={COLORS[k()]} stroke-width="1.6" />
          <path d="M14 2v5h5" fill="none" stroke={COLORS[k()]} stroke-width="1.6" />
          <Show when={LABELS[k()]}>
            <rect x="3" y="12" width="15" height="7" rx="1.5" fill={COLORS[k()]} />
            <text x="10.5" y="17.6" font-size="5.6" font-family="system-ui, sans-serif" font-weight="700" text-anchor="middle" fill="#fff">{LABELS[k()]}</text>
          </Show>
        </>
      }>
        <path d="M2 6a2 2 0 0 1 2-2h5l2 2h9a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2z" fill={COLORS.folder} />
      </Show>
    </svg>
  );
}
