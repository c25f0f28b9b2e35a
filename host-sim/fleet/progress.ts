// A progress bar on stderr. On a terminal it redraws in place (at most ten times a second);
// elsewhere (CI logs, pipes) it prints one line at every tenth of the run.
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
}

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
    const width = 30;
    const full = Math.round(f * width);
    return `${label} [${'#'.repeat(full)}${'-'.repeat(width - full)}] ${pct}  ${virt}  ${rate}${eta}`;
  }
}
