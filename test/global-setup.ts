// Runs once around the whole vitest run: clears the log folder before, and after every suite
// searches every module log line for any 8-character substring of any issued key or secret.
import fs from 'node:fs';
import path from 'node:path';

const LOG_DIR = path.resolve('build/test-logs');

export function setup() {
  fs.rmSync(LOG_DIR, { recursive: true, force: true });
  fs.mkdirSync(LOG_DIR, { recursive: true });
}

export function teardown() {
  const files = fs.existsSync(LOG_DIR) ? fs.readdirSync(LOG_DIR) : [];
  const read = (prefix: string) =>
    files.filter((f) => f.startsWith(prefix)).flatMap((f) => fs.readFileSync(path.join(LOG_DIR, f), 'utf8').split('\n')).filter(Boolean);
  const secrets = [...new Set(read('secrets-'))];
  const lines = read('log-');
  const pieces = new Set<string>();
  for (const s of secrets) for (let i = 0; i + 8 <= s.length; i++) pieces.add(s.slice(i, i + 8));
  const leaks: string[] = [];
  for (const line of lines) {
    for (let i = 0; i + 8 <= line.length; i++) {
      if (pieces.has(line.slice(i, i + 8))) { leaks.push(line); break; }
    }
  }
  console.log(`secret scan: ${lines.length} log lines, ${secrets.length} secrets, ${pieces.size} 8-character pieces, ${leaks.length} leaks`);
  // A run of suites that never start a device records nothing; a run that records one side
  // only means the recording is broken and the scan would prove nothing.
  if ((lines.length === 0) !== (secrets.length === 0)) throw new Error('secret scan: log lines or secrets were not recorded; the scan would prove nothing');
  if (leaks.length > 0) throw new Error(`secret scan: a key or secret appears in ${leaks.length} log line(s), e.g. ${leaks[0].slice(0, 60)}...`);
}
