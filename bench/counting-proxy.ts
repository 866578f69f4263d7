import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A pass-through HTTP proxy on 127.0.0.1 that records every request it forwards: when, and which
 * AWS operation (X-Amz-Target) or page. The bench puts one in front of the local server per CLI
 * process, so API calls are counted without touching the server.
 */

export interface CountedRequest {
  /** Date.now() when the request arrived. */
  readonly at: number;
  /** `GetExecutionHistory`, `GetLogEvents`, ... or `GET /path`. */
  readonly operation: string;
}

export interface CountingProxy {
  readonly url: string;
  readonly requests: CountedRequest[];
  close(): Promise<void>;
}

export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const upstream = new URL(target);
  if (upstream.hostname !== '127.0.0.1') throw new Error(`the proxy only forwards to 127.0.0.1`);
  const requests: CountedRequest[] = [];
  const server = createServer((req, res) => {
    const amzTarget = req.headers['x-amz-target'];
    requests.push({
      at: Date.now(),
      operation:
        typeof amzTarget === 'string'
          ? (amzTarget.split('.').pop() ?? amzTarget)
          : `${req.method} ${req.url}`,
    });
    const forward = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        // The local server answers only its own Host (DNS rebinding protection); it does not
        // check signatures, so the signed Host can change.
        headers: { ...req.headers, host: upstream.host },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', (error) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`proxy: ${error.message}`);
    });
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
