import { createSignal } from 'solid-js';

export type Theme = 'system' | 'light' | 'dark';
const [theme, setThemeSignal] = createSignal<Theme>('system');
export { theme };

function apply(t: Theme): void {
  if (t === 'system') document.documentElement.removeAttribute('data-theme');
  else document.documentElement.setAttribute('data-theme', t);
}

export function initTheme(): void {
  const saved = localStorage.getItem('coffer.theme');
  const t: Theme = saved === 'light' || saved === 'dark' ? saved : 'system';
  setThemeSignal(t);
  apply(t);
}

export function cycleTheme(): void {
  const next: Theme = theme() === 'system' ? 'dark' : theme() === 'dark' ? 'light' : 'system';
  setThemeSignal(next);
  localStorage.setItem('coffer.theme', next);
  apply(next);
}
