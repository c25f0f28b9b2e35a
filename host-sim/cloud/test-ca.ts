// A test CA and a server certificate for the fake cloud over TLS on loopback, made at run time
// with the openssl command line in a temporary folder that is removed at once: no private key
// is ever written into the repository or left behind. The CA certificate (public) can be
// written to a file for a board (`writeCaFile`).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TestTls {
  /** PEM of the CA that signed the server certificate: what a client trusts. */
  ca: string;
  /** PEM server certificate (SAN: IP 127.0.0.1, IP ::1, DNS localhost) and its key. */
  cert: string;
  key: string;
}

/** Days the certificates are valid: a run's lifetime, with room. */
const VALID_DAYS = 2;

export function makeTestTls(): TestTls {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackagent-tls-'));
  const f = (name: string) => path.join(dir, name);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', String(VALID_DAYS),
      '-subj', '/CN=trackagent test CA', '-keyout', f('ca.key'), '-out', f('ca.pem'));
    ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost',
      '-keyout', f('server.key'), '-out', f('server.csr'));
    fs.writeFileSync(f('ext'), 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nbasicConstraints=CA:FALSE\n');
    ssl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial',
      '-days', String(VALID_DAYS), '-extfile', f('ext'), '-out', f('server.pem'));
    return { ca: fs.readFileSync(f('ca.pem'), 'utf8'), cert: fs.readFileSync(f('server.pem'), 'utf8'), key: fs.readFileSync(f('server.key'), 'utf8') };
  } catch (e) {
    const err = e as { code?: string; stderr?: Buffer };
    if (err.code === 'ENOENT') throw new Error('cannot make the test CA: the openssl command is not installed');
    throw new Error(`cannot make the test CA: openssl failed (${(err.stderr?.toString() ?? String(e)).trim().split('\n')[0]})`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes the CA certificate (public, no key) to `file` for a board's CA setting. */
export function writeCaFile(tls: TestTls, file: string): string {
  fs.writeFileSync(file, tls.ca);
  return file;
}
