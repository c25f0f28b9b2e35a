// Every log line of the test run and every key or secret the fake cloud issued go to files
// under build/test-logs/, so that test/global-setup.ts can search the whole run's logs for
// any 8-character piece of any secret once all suites have finished.
import fs from 'node:fs';
import path from 'node:path';

export const LOG_DIR = path.resolve('build/test-logs');
const tag = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
let logFd: number | null = null;
let secretFd: number | null = null;

function open(kind: 'log' | 'secrets'): number {
  fs.mkdirSync(LOG_DIR, { recursive: true });
  return fs.openSync(path.join(LOG_DIR, `${kind}-${tag}.txt`), 'a');
}

export function recordLogLine(line: string): void {
  logFd ??= open('log');
  fs.writeSync(logFd, line.replace(/\n/g, ' ') + '\n');
}

export function recordSecret(secret: string): void {
  secretFd ??= open('secrets');
  fs.writeSync(secretFd, secret + '\n');
}
