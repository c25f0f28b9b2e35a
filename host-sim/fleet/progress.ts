// A progress bar on stderr. On a terminal it redraws in place (at most ten times a second),
// never wider than the terminal: a line that wraps cannot be redrawn by `\r` and would scroll.
// Elsewhere (CI logs, pipes) it prints one line at every tenth of the run.
import { hhmm } from './summary.ts';

export interface ProgressOptions {
  /** Virtual duration of the run, ms (to show virtual time). */
  durationMs: number;
  /** Device count (to show device-hours per second). */
  devices: number;
  stream?: NodeJS.WriteStream;
  /** Force the terminal or the line mode (default: whether the stream is a TTY). */
  tty?: boolean;
  label?: string;
  /** Columns of the terminal (default: the stream's, else 80). */
  columns?: number;
}

/** Narrowest bar worth drawing; below it the bar goes and the figures stay. */
const MIN_BAR = 10;
const MAX_BAR = 30;

export class Progress {
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;
  private readonly started = performance.now();
  private lastDraw = 0;
  private lastTenth = -1;
  private fraction = 0;
  private finished = false;

  constructor(private o: ProgressOptions) {
    this.stream = o.stream ?? process.stderr;
    this.tty = o.tty ?? Boolean(this.stream.isTTY);
  }

  update(fraction: number): void {
    if (this.finished) return;
    this.fraction = Math.max(this.fraction, Math.min(1, fraction));
    if (this.tty) {
      const now = performance.now();
      if (now - this.lastDraw < 100 && this.fraction < 1) return;
      this.lastDraw = now;
      this.stream.write(`\r${this.line(true)}\x1b[K`);
    } else {
      const tenth = Math.floor(this.fraction * 10);
      if (tenth > this.lastTenth) {
        this.lastTenth = tenth;
        this.stream.write(`${this.line(false)}\n`);
      }
    }
  }

  /** Ends the bar (the final state stays on screen). */
  done(): void {
    if (this.finished) return;
    this.update(1);
    this.finished = true;
    if (this.tty) this.stream.write('\n');
  }

  private line(bar: boolean): string {
    const f = this.fraction;
    const secs = (performance.now() - this.started) / 1000;
    const pct = `${Math.floor(f * 100)}%`.padStart(4);
    const virt = `${hhmm(f * this.o.durationMs)} of ${hhmm(this.o.durationMs)} virtual`;
    const rate = secs > 0 ? `${Math.round((f * this.o.durationMs * this.o.devices) / 3_600_000 / secs).toLocaleString('en-US')} device-h/s` : '';
    const eta = f > 0.01 && f < 1 ? `, ${Math.ceil((secs * (1 - f)) / f)} s left` : '';
    const label = this.o.label ?? 'fleet';
    if (!bar) return `${label}: ${pct.trim()} (${virt}, ${secs.toFixed(1)} s, ${rate})`;
    // The last column stays empty: writing into it makes some terminals wrap at once.
    const room = Math.max(20, (this.o.columns ?? this.stream.columns ?? 80) - 1);
    const draw = (width: number) => {
      const full = Math.round(f * width);
      return `[${'#'.repeat(full)}${'-'.repeat(width - full)}]`;
    };
    // Figures in order of importance; the bar takes what is left, from MAX_BAR down to MIN_BAR.
    const parts = [pct, virt, rate, eta.replace(/^, /, '')].filter(Boolean);
    const figures = (n: number) => parts.slice(0, n).join('  ');
    for (let n = parts.length; n >= 1; n--) {
      const left = room - `${label}  ${figures(n)}`.length - 2; // two spaces and the brackets
      if (left >= MIN_BAR) return `${label} ${draw(Math.min(MAX_BAR, left))} ${figures(n)}`;
    }
    // Too narrow for a bar: as many figures as fit.
    for (let n = parts.length; n >= 1; n--) if (`${label} ${figures(n)}`.length <= room) return `${label} ${figures(n)}`;
    return `${label} ${pct.trim()}`.slice(0, room);
  }
}
