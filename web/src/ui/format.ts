export function formatSize(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

const dtf = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
export function formatDate(ms: number): string {
  return ms ? dtf.format(new Date(ms)) : '—';
}


/** A simple entropy estimate (bits) for the strength meter: pool size × length, less for repeats. */
export function passphraseBits(p: string): number {
  if (!p) return 0;
  let pool = 0;
  if (/[a-z]/.test(p)) pool += 26;
  if (/[A-Z]/.test(p)) pool += 26;
  if (/[0-9]/.test(p)) pool += 10;
  if (/[^a-zA-Z0-9]/.test(p)) pool += 33;
  const unique = new Set(p).size;
  const effective = Math.min(p.length, unique * 2);
  return Math.round(effective * Math.log2(Math.max(pool, 2)));
}

export function strengthLabel(bits: number): { label: string; color: string; pct: number } {
  if (bits < 40) return { label: 'Weak', color: 'var(--danger)', pct: Math.max(8, (bits / 100) * 100) };
  if (bits < 60) return { label: 'Fair', color: 'var(--warn)', pct: (bits / 100) * 100 };
  if (bits < 80) return { label: 'Good', color: 'var(--ok)', pct: (bits / 100) * 100 };
  return { label: 'Strong', color: 'var(--ok)', pct: 100 };
}
