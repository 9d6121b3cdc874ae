// A restic/rclone-like progress line on stderr: bytes, percentage, speed and ETA.
// Drawn only when stderr is a terminal and neither --json nor --quiet was given.

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`;
}

function formatDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '--:--';
  s = Math.round(s);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const mm = String(m).padStart(2, '0');
  const ss = String(sec).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

export class Progress {
  private done = 0;
  private started = Date.now();
  private lastDraw = 0;
  private samples: Array<[number, number]> = [];
  private readonly enabled: boolean;

  constructor(private label: string, private total: number, enabled: boolean) {
    this.enabled = enabled && Boolean(process.stderr.isTTY);
  }

  setLabel(label: string): void {
    this.label = label;
  }

  add(bytes: number): void {
    this.done += bytes;
    this.draw(false);
  }

  set(bytes: number): void {
    this.done = bytes;
    this.draw(false);
  }

  /** Prints `text` on its own line above the bar (the bar is cleared, then drawn again below). */
  above(stream: NodeJS.WriteStream, text: string): void {
    if (this.enabled) process.stderr.write('\r\x1b[K');
    stream.write(text + '\n');
    if (this.enabled) this.draw(true, false);
  }

  finish(): void {
    this.draw(true);
    if (this.enabled) process.stderr.write('\n');
  }

  private draw(force: boolean, final = force): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    this.samples.push([now, this.done]);
    while (this.samples.length > 2 && now - this.samples[0]![0] > 5000) this.samples.shift();
    const [t0, b0] = this.samples[0]!;
    const dt = (now - t0) / 1000;
    const speed = dt > 0.2 ? (this.done - b0) / dt : this.done / Math.max((now - this.started) / 1000, 0.001);
    const frac = this.total > 0 ? Math.min(this.done / this.total, 1) : 1;
    const eta = speed > 0 ? (this.total - this.done) / speed : Infinity;
    const width = Math.max(10, Math.min(30, (process.stderr.columns ?? 80) - 70));
    const filled = Math.round(frac * width);
    const bar = '='.repeat(Math.max(0, filled - 1)) + (filled > 0 ? (frac >= 1 ? '=' : '>') : '') + ' '.repeat(width - filled);
    const name = this.label.length > 24 ? '…' + this.label.slice(-23) : this.label;
    const line =
      `${name.padEnd(24)} ${(frac * 100).toFixed(0).padStart(3)}% [${bar}] ` +
      `${formatBytes(this.done)} / ${formatBytes(this.total)}  ${formatBytes(Math.round(speed))}/s  ` +
      (final ? `in ${formatDuration((now - this.started) / 1000)}` : `ETA ${formatDuration(eta)}`);
    process.stderr.write(`\r\x1b[K${line}`);
  }
}
