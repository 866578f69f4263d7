import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';

/**
 * Serves a Function URL handler from node:http, as Lambda's Function URL front end would call
 * it: local mode and the browser tests run the real approval page this way.
 */

/** Largest body read from a request; anything above is cut, and the handler answers 413. */
export const MAX_ADAPTER_BODY_BYTES = 1024 * 1024;

const TEXT_TYPES = /^(text\/|application\/(json|x-www-form-urlencoded|xml))/i;

/** Builds the Function URL event (payload format 2.0) for a request and its body. */
export function toFunctionUrlEvent(req: IncomingMessage, body: Buffer): APIGatewayProxyEventV2 {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = (req.rawHeaders[i] as string).toLowerCase();
    const value = req.rawHeaders[i + 1] as string;
    if (name === 'cookie') cookies.push(...value.split(/;\s*/).filter(Boolean));
    else headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
  }
  // As a Function URL's front end does: the scheme the client used, never the client's claim.
  headers['x-forwarded-proto'] = 'http';
  const query: Record<string, string> = {};
  for (const [key, value] of url.searchParams)
    query[key] = query[key] === undefined ? value : `${query[key]},${value}`;
  const method = (req.method ?? 'GET').toUpperCase();
  const now = new Date();
  const text = TEXT_TYPES.test(headers['content-type'] ?? '');
  const sourceIp = req.socket.remoteAddress ?? '127.0.0.1';
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: url.pathname,
    rawQueryString: url.search.replace(/^\?/, ''),
    ...(cookies.length > 0 ? { cookies } : {}),
    headers,
    ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
    requestContext: {
      accountId: 'anonymous',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: (headers.host ?? 'localhost').split('.')[0] as string,
      http: {
        method,
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(body.length > 0 || method === 'POST'
      ? { body: text ? body.toString('utf8') : body.toString('base64') }
      : {}),
    isBase64Encoded: !text && body.length > 0,
  };
}

/** Writes a Function URL result (structured, or a bare string as Lambda treats it) to the response. */
export function writeFunctionUrlResult(res: ServerResponse, result: APIGatewayProxyResultV2): void {
  if (typeof result === 'string' || result === null || typeof result !== 'object') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(typeof result === 'string' ? result : JSON.stringify(result));
    return;
  }
  const structured = result as Exclude<APIGatewayProxyResultV2, string>;
  if (!('statusCode' in structured) && !('body' in structured) && !('headers' in structured)) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(structured));
    return;
  }
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(structured.headers ?? {}))
    headers[name] = String(value);
  if (structured.cookies && structured.cookies.length > 0)
    headers['set-cookie'] = structured.cookies;
  res.writeHead(structured.statusCode ?? 200, headers);
  const body = structured.body ?? '';
  res.end(structured.isBase64Encoded ? Buffer.from(body, 'base64') : body);
}

/** Reads a request body, stopping after `limit` bytes (+1, so the handler can see it is too big). */
export async function readRequestBody(
  req: IncomingMessage,
  limit = MAX_ADAPTER_BODY_BYTES,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    if (size + buf.length > limit) {
      chunks.push(buf.subarray(0, limit + 1 - size));
      size = limit + 1;
      break;
    }
    chunks.push(buf);
    size += buf.length;
  }
  return Buffer.concat(chunks);
}

export type FunctionUrlHandler = (
  event: APIGatewayProxyEventV2,
) => Promise<APIGatewayProxyResultV2>;

/** Turns a Function URL handler into a node:http request listener. */
export function functionUrlListener(handler: FunctionUrlHandler) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      const body = await readRequestBody(req);
      writeFunctionUrlResult(res, await handler(toFunctionUrlEvent(req, body)));
    } catch {
      // Lambda answers 502 when a function throws; the page handler never does.
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('Bad gateway');
    }
  };
}

export interface FunctionUrlServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

/** Serves a Function URL handler on 127.0.0.1 (port 0 picks a free one). */
export async function serveFunctionUrl(
  handler: FunctionUrlHandler,
  options: { readonly port?: number; readonly host?: string } = {},
): Promise<FunctionUrlServer> {
  const host = options.host ?? '127.0.0.1';
  const server = createServer((req, res) => void functionUrlListener(handler)(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
