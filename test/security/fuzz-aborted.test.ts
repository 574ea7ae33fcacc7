import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { startNodeProcess } from '../helpers/node-process.js';
import { sendRaw } from '../helpers/raw-http.js';
import { operationsOf, type OpenApiDoc } from './fuzz-requests.js';

/**
 * Requests whose client is gone before the answer (sent, then the socket closed at once) must
 * leave nothing behind: no error in the node's log, no event stream counted as open, and the node
 * alive. Every GET route of the OpenAPI document, and /api/v1/events many more times than a
 * user's stream limit.
 */

function sendAndVanish(port: number, head: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    s.once('error', reject);
    s.once('connect', () => {
      s.write(head, () => {
        s.destroy();
        resolve();
      });
    });
  });
}

test('requests abandoned by their client leave no error, no open stream and a live node', async () => {
  const node = await startNodeProcess({ config: { drivers: { test: { cpu: 8, ram: 16 } } } });
  try {
    const get = (target: string, method = 'GET') =>
      sendRaw(
        { host: '127.0.0.1', port: node.apiPort },
        {
          method,
          target,
          headers: [
            ['Host', 'x'],
            ['Authorization', `Bearer ${node.token}`],
            ['Connection', 'close'],
          ],
        },
      );
    const doc = JSON.parse((await get('/api/openapi.json')).body.toString('utf8')) as OpenApiDoc;
    const gets = operationsOf(doc).filter((o) => o.method === 'GET');
    assert.ok(
      gets.some((o) => o.path === '/api/v1/events'),
      'the document lists /api/v1/events',
    );
    const uid = '00000000-0000-4000-8000-000000000000';
    for (const op of gets) {
      const target = op.path.replace('{uid}', uid).replace('{name}', 'admin');
      for (let i = 0; i < 3; i++)
        await sendAndVanish(node.apiPort, `GET ${target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${node.token}\r\n\r\n`);
    }
    // far more than the per-user stream limit
    for (let i = 0; i < 40; i++)
      await sendAndVanish(node.apiPort, `GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${node.token}\r\n\r\n`);
    // the node notices the vanished clients a moment later: wait (bounded) until every abandoned stream is released
    // (a leaked stream slot never is: then the user stays at the limit and this gives up with the last 429)
    const deadline = Date.now() + 10_000;
    let head = await get('/api/v1/events', 'HEAD');
    for (let i = 0; i < 200 && head.status === 429 && Date.now() < deadline; i++) {
      await new Promise((r) => setTimeout(r, 50));
      head = await get('/api/v1/events', 'HEAD');
    }
    assert.equal(head.status, 200, `HEAD /api/v1/events answers its head: ${head.body.toString('utf8')}`);
    for (let i = 0; i < 10; i++) assert.equal((await get('/api/v1/events', 'HEAD')).status, 200, 'a HEAD holds no stream open');

    // the abandoned streams were all released: a real one opens
    const live = await get('/api/v1/events');
    assert.equal(live.status, 200, `a new event stream opens: ${live.body.toString('utf8')}`);
    assert.ok(live.streamed);

    const health = await get('/health');
    assert.equal(health.status, 200);
    const errors = node
      .output()
      .split('\n')
      .filter((l) => /"level":(50|60)/.test(l));
    assert.deepEqual(errors, [], 'the node logged no error');
    assert.equal(node.proc.exitCode, null, 'the node process is alive');
    assert.equal(node.proc.signalCode, null);
  } finally {
    await node.cleanup();
  }
});
