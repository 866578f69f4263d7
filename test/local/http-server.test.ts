import { request } from 'node:http';
import { connect } from 'node:net';
import { ListStateMachinesCommand, SFNClient } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalEngine } from '../../lib/local/engine';
import { loopbackHosts, startHttpServer } from '../../lib/local/http-server';
import { LocalLogService } from '../../lib/local/log-service';

/** Sends one request with exactly the Host header given (node's default would be correct). */
function rawGet(port: number, path: string, host: string) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('local server: only its own Host (DNS rebinding)', () => {
  let server: Awaited<ReturnType<typeof startHttpServer>>;
  let pageRequests = 0;
  beforeAll(async () => {
    const engine = new LocalEngine({
      definition: { StartAt: 'Done', States: { Done: { Type: 'Succeed' } } },
      stateMachineName: 'host-test',
      onExecutionEnded: () => {},
      taskImplementation: () => async () => ({}),
    });
    server = await startHttpServer({
      engine,
      logs: new LocalLogService(),
      approvalPage: async (_req, res) => {
        pageRequests += 1;
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('page');
      },
    });
  });
  afterAll(() => server?.close());

  it('refuses a forged Host with 421 and one line saying which hosts it answers', async () => {
    const { port } = server;
    for (const host of [
      'attacker.example',
      `attacker.example:${port}`,
      `127.0.0.1.nip.io:${port}`,
      `127.0.0.1:${port + 1}`,
      `127.0.0.1`,
      `localhost.attacker.example:${port}`,
    ]) {
      for (const path of ['/', '/healthz', '/a/x', '/executions/x']) {
        const res = await rawGet(port, path, host);
        expect(res.status, `${host} ${path}`).toBe(421);
        expect(res.body).toBe(
          `This deploy-runner local server answers only Host 127.0.0.1:${port} or localhost:${port} (DNS rebinding protection).\n`,
        );
      }
    }
    expect(pageRequests).toBe(0);
  });

  it('refuses a request without a Host header', async () => {
    const socket = connect(server.port, '127.0.0.1');
    socket.write('GET /healthz HTTP/1.0\r\n\r\n');
    let text = '';
    for await (const chunk of socket) text += String(chunk);
    expect(text).toMatch(/^HTTP\/1\.1 421 /);
  });

  it('answers its own names, and the SDK client still works', async () => {
    const { port } = server;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`])
      expect(await rawGet(port, '/healthz', host)).toEqual({ status: 200, body: 'ok' });
    expect((await rawGet(port, '/a/x', `127.0.0.1:${port}`)).body).toBe('page');
    const sfn = new SFNClient({
      endpoint: server.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const out = await sfn.send(new ListStateMachinesCommand({}));
    expect(out.stateMachines?.[0]?.name).toBe('host-test');
    sfn.destroy();
  });

  it('names IPv6 loopback in brackets', () => {
    expect([...loopbackHosts('::1', 80)]).toEqual(['[::1]:80', 'localhost:80']);
    expect([...loopbackHosts('127.0.0.1', 8787)]).toEqual(['127.0.0.1:8787', 'localhost:8787']);
  });
});
