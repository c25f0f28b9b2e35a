// Puts a FakeCloud on a real HTTP/1.1 socket (keep-alive on) and acts out the
// faults that need one: delays, dropped connections, requests never answered.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import { MAX_REQUEST_BYTES, type FakeCloud } from './fake-cloud.ts';
import type { CloudOutcome } from './types.ts';

export interface CloudServer {
  url: string;
  /** TLS handshakes the server completed, full and resumed (isSessionReused); zeros over plain HTTP. */
  readonly handshakes: { full: number; resumed: number };
  close(): Promise<void>;
}

export interface CloudServerOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Serve HTTPS with this certificate and key (test-ca.ts); sessions are honoured this long. */
  tls?: { cert: string; key: string; sessionLifetimeMs: number };
  /** Close every connection after its answer (Connection: close): each request is a new connection, so a client shows whether it resumes its TLS session. */
  closeEach?: boolean;
}

/**
 * Reads the body, keeping at most MAX_REQUEST_BYTES + 1 bytes (enough for the
 * cloud to see it is too large and answer 413) while still draining the rest.
 */
function readBody(req: IncomingMessage): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let kept = 0;
    req.on('data', (chunk: Buffer) => {
      if (kept > MAX_REQUEST_BYTES) return;
      const room = MAX_REQUEST_BYTES + 1 - kept;
      const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
      chunks.push(part);
      kept += part.length;
    });
    req.on('end', () => resolve(new Uint8Array(Buffer.concat(chunks))));
    req.on('error', reject);
  });
}

function headerRecord(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

export async function startCloudServer(cloud: FakeCloud, opts: CloudServerOptions = {}): Promise<CloudServer> {
  const host = opts.host ?? '127.0.0.1';
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let closing = false;

  const act = (outcome: CloudOutcome, req: IncomingMessage, res: ServerResponse) => {
    if (closing) return;
    switch (outcome.kind) {
      case 'drop':
        req.socket.destroy();
        return;
      case 'hang':
        return; // left open until the client gives up or close() destroys it
      case 'respond': {
        const { status, headers, body } = outcome.response;
        res.sendDate = false; // the cloud's own Date header, from its clock
        if (opts.closeEach) res.shouldKeepAlive = false;
        res.writeHead(status, { ...headers, 'content-length': String(body.length) });
        res.end(body);
      }
    }
  };

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    readBody(req).then(
      (body) => {
        const outcome = cloud.serve({
          method: req.method ?? 'GET',
          path: req.url ?? '/',
          headers: headerRecord(req),
          body,
          remoteAddress: req.socket.remoteAddress,
        });
        if (outcome.delayMs <= 0) return act(outcome, req, res);
        const timer = setTimeout(() => {
          timers.delete(timer);
          act(outcome, req, res);
        }, outcome.delayMs);
        timers.add(timer);
      },
      () => req.socket.destroy(), // client went away mid-body: nothing to answer
    );
  };
  const handshakes = { full: 0, resumed: 0 };
  const tls = opts.tls;
  // Over TLS: session tickets and IDs both honoured for sessionLifetimeMs (sessionTimeout is
  // seconds); every completed handshake counted as full or resumed on this side.
  const server = tls
    ? createTlsServer({ keepAlive: true, cert: tls.cert, key: tls.key, sessionTimeout: Math.round(tls.sessionLifetimeMs / 1000) }, handler)
    : createServer({ keepAlive: true }, handler);
  if (tls) server.on('secureConnection', (s: TLSSocket) => { if (s.isSessionReused()) handshakes.resumed++; else handshakes.full++; });
  server.keepAliveTimeout = 5_000;
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  const { port } = server.address() as AddressInfo;
  const url = `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  cloud.baseUrl ??= url;

  return {
    url,
    handshakes,
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        server.close(() => resolve());
        // Idle keep-alive and hanging connections would otherwise hold close() open.
        for (const socket of sockets) socket.destroy();
      }),
  };
}
