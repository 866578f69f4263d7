import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, dirname } from 'node:path';

/** Test servers on 127.0.0.1: a smart-HTTP git server and a minimal versioned S3. */

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export interface GitHttpServer {
  readonly url: string;
  /** The Authorization header of every request (undefined when absent). */
  readonly authorizations: (string | undefined)[];
  close(): Promise<void>;
}

/**
 * Serves `bareRepo` over smart HTTP through `git http-backend` (CGI), answering 401 unless the
 * request carries `requiredAuthorization`.
 */
export async function startGitHttpServer(
  bareRepo: string,
  requiredAuthorization: string,
): Promise<GitHttpServer> {
  const authorizations: (string | undefined)[] = [];
  const server = createServer(async (req, res) => {
    authorizations.push(req.headers.authorization);
    if (req.headers.authorization !== requiredAuthorization) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"' }).end();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const input = await body(req);
    const cgi = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env.PATH,
        GIT_PROJECT_ROOT: dirname(bareRepo),
        GIT_HTTP_EXPORT_ALL: '1',
        GIT_CONFIG_GLOBAL: '/dev/null',
        PATH_INFO: url.pathname,
        QUERY_STRING: url.search.slice(1),
        REQUEST_METHOD: req.method ?? 'GET',
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        CONTENT_LENGTH: String(input.length),
        HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '',
        GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
        REMOTE_ADDR: '127.0.0.1',
      },
    });
    cgi.stdin.end(input);
    const output: Buffer[] = [];
    cgi.stdout.on('data', (c: Buffer) => output.push(c));
    cgi.on('close', () => {
      const all = Buffer.concat(output);
      const split = all.indexOf('\r\n\r\n');
      const head = all.subarray(0, split).toString('latin1');
      const headers: Record<string, string> = {};
      let status = 200;
      for (const line of head.split('\r\n')) {
        const [name, ...rest] = line.split(':');
        const value = rest.join(':').trim();
        if (name?.toLowerCase() === 'status') status = Number.parseInt(value, 10);
        else if (name) headers[name] = value;
      }
      res.writeHead(status, headers).end(all.subarray(split + 4));
    });
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}/${basename(bareRepo)}`,
    authorizations,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export interface FakeS3 {
  /** Value for AWS_ENDPOINT_URL_S3. */
  readonly endpoint: string;
  /** Every request: method, path, the encryption and checksum headers. */
  readonly requests: { method: string; path: string; headers: IncomingMessage['headers'] }[];
  close(): Promise<void>;
}

/**
 * Just enough S3 for the runner: PutObject (answers with a version ID) and GetObject by version,
 * path-style, verifying the `x-amz-checksum-sha256` the client sends.
 */
export async function startFakeS3(): Promise<FakeS3> {
  const objects = new Map<string, Buffer>();
  const latest = new Map<string, string>();
  const requests: FakeS3['requests'] = [];
  let counter = 0;
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = decodeURIComponent(url.pathname);
    requests.push({ method: req.method ?? '', path, headers: req.headers });
    if (req.method === 'PUT') {
      const data = await body(req);
      const sent = req.headers['x-amz-checksum-sha256'];
      if (sent !== createHash('sha256').update(data).digest('base64')) {
        res.writeHead(400).end('<Error><Code>BadDigest</Code></Error>');
        return;
      }
      const versionId = `v${++counter}`;
      objects.set(`${path}@${versionId}`, data);
      latest.set(path, versionId);
      res.writeHead(200, { 'x-amz-version-id': versionId, ETag: '"x"' }).end();
      return;
    }
    const versionId = url.searchParams.get('versionId') ?? latest.get(path);
    const data = objects.get(`${path}@${versionId}`);
    if (!data) {
      res
        .writeHead(404, { 'Content-Type': 'application/xml' })
        .end('<Error><Code>NoSuchKey</Code><Message>no</Message></Error>');
      return;
    }
    res
      .writeHead(200, {
        'x-amz-version-id': versionId,
        'Content-Length': String(data.length),
        'x-amz-checksum-sha256': createHash('sha256').update(data).digest('base64'),
      })
      .end(data);
  });
  const port = await listen(server);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
