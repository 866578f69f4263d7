import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { awsOperations, serveAwsJson } from './aws-json-api';
import type { LocalEngine } from './engine';
import type { LocalLogService } from './log-service';
import { renderExecutionPage, renderIndexPage } from './run-pages';

/**
 * One HTTP server on 127.0.0.1 for local mode: the AWS JSON API (Step Functions and CloudWatch
 * Logs) on `POST /`, the approval page on `/a/...`, and read-only run pages standing in for the
 * Step Functions console.
 */

export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export interface LocalHttpServerOptions {
  readonly engine: LocalEngine;
  readonly logs: LocalLogService;
  /** Serves `/a/<capability>` (the approval page handler behind a Function URL adapter). */
  readonly approvalPage: RouteHandler;
  readonly host?: string;
  readonly port?: number;
}

/** Thrown when the port is taken; says which and how to pick another. */
export class PortInUseError extends Error {
  override readonly name = 'PortInUseError';
  constructor(readonly port: number) {
    super(
      `port ${port} on 127.0.0.1 is already in use (another deploy-runner local server?): stop it, or pass --port <free port>`,
    );
  }
}

const pageHeaders = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
};

export async function startHttpServer(
  options: LocalHttpServerOptions,
): Promise<{ server: Server; url: string; port: number; close: () => Promise<void> }> {
  const operations = awsOperations(options.engine, options.logs);
  let hosts = new Set<string>();
  const server = createServer((req, res) => {
    // DNS rebinding: a web page can point its own name at 127.0.0.1, and the browser would then
    // talk to this server under that name. Only this server's own names are answered.
    const host = req.headers.host?.toLowerCase();
    if (host === undefined || !hosts.has(host)) {
      res.writeHead(421, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
      res.end(
        `This deploy-runner local server answers only Host ${[...hosts].join(' or ')} (DNS rebinding protection).\n`,
      );
      return;
    }
    route(options, operations, req, res).catch((error: unknown) => {
      process.emitWarning(`local server error: ${String(error)}`);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('internal error');
    });
  });
  server.keepAliveTimeout = 5000;
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? new PortInUseError(options.port ?? 0) : error),
    );
    server.listen(options.port ?? 0, host, () => {
      hosts = loopbackHosts(host, (server.address() as AddressInfo).port);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The `Host` values that name this server: its address and port, and `localhost` for loopback. */
export function loopbackHosts(address: string, port: number): Set<string> {
  const bare = address.replace(/^\[|\]$/g, '').toLowerCase();
  const named = bare.includes(':') ? `[${bare}]` : bare;
  const hosts = new Set([`${named}:${port}`]);
  if (bare === 'localhost' || bare === '::1' || /^127\./.test(bare)) {
    hosts.add(`localhost:${port}`);
    if (bare === 'localhost') {
      hosts.add(`127.0.0.1:${port}`);
      hosts.add(`[::1]:${port}`);
    }
  }
  return hosts;
}

async function route(
  options: LocalHttpServerOptions,
  operations: ReturnType<typeof awsOperations>,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  if (req.headers['x-amz-target']) return serveAwsJson(operations, req, res);
  // The page's own paths (handlers/shared/approval-routes.ts): approval links and plan views.
  if (url.pathname.startsWith('/a/') || url.pathname.startsWith('/v/'))
    return options.approvalPage(req, res);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { ...pageHeaders, allow: 'GET' });
    res.end();
    return;
  }
  if (url.pathname === '/') {
    res.writeHead(200, pageHeaders);
    res.end(renderIndexPage(options.engine));
    return;
  }
  if (url.pathname.startsWith('/executions/')) {
    const arn = decodeURIComponent(url.pathname.slice('/executions/'.length));
    const record = options.engine.get(arn);
    res.writeHead(record ? 200 : 404, pageHeaders);
    res.end(renderExecutionPage(arn, record, options.logs));
    return;
  }
  if (url.pathname === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
    return;
  }
  res.writeHead(404, pageHeaders);
  res.end('<!doctype html><title>Not found</title><p>Not found.</p>');
}
