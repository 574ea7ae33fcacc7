import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { ShoalClient } from '../client/index.js';
import { SseParser } from '../client/sse-parser.js';
import { appendStateRows } from '../store/testing/bulk-rows.js';
import { TEST_DIALECTS } from '../store/testing/index.js';
import { bearer, createUser, startApiNode, testLabelBody, type ApiTestNode } from './testing/api-harness.js';

const EVENTS = 100_000;

/** Reads a stream with Last-Event-ID until `stop` says so; returns the ids of state events and any `end` event. */
function readEvents(
  url: string,
  headers: Record<string, string>,
  stop: (lastId: number) => boolean,
  onResponse?: (res: IncomingMessage) => void,
): Promise<{ status: number; ids: number[]; end: { id: string | undefined; data: string } | undefined }> {
  return new Promise((resolve, reject) => {
    const ids: number[] = [];
    let end: { id: string | undefined; data: string } | undefined;
    const req = httpRequest(`${url}/api/v1/events`, { headers: { accept: 'text/event-stream', ...headers }, agent: false }, (res) => {
      onResponse?.(res);
      const parser = new SseParser({
        onMessage: (m) => {
          if (m.event === 'state') ids.push(Number(m.id));
          if (m.event === 'end') end = { id: m.id, data: m.data };
        },
      });
      res.on('data', (chunk: Buffer) => {
        parser.feed(chunk);
        if (ids.length > 0 && stop(ids.at(-1)!)) req.destroy();
      });
      res.on('close', () => resolve({ status: res.statusCode ?? 0, ids, end }));
    });
    req.on('error', (err) => (ids.length > 0 || end ? undefined : reject(err)));
    req.end();
  });
}

/** Every id of (from, to] in order, once each. */
function assertContiguous(ids: readonly number[], from: number, to: number, step = 1): void {
  assert.equal(ids.length, (to - from) / step, `${ids.length} events for (${from}, ${to}]`);
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] !== from + step * (i + 1)) assert.fail(`event #${i} is ${ids[i]}, expected ${from + step * (i + 1)}`);
  }
}

for (const dialect of TEST_DIALECTS) {
  describe(`API: event replay from any point, ${dialect} (${EVENTS} events)`, () => {
    let t: ApiTestNode;
    let url: string;
    let last: number;
    let aliceToken: string;

    before(async () => {
      t = await startApiNode({ dialect, api: { events: { slowClientMs: 300 } } });
      url = await t.listen();
      aliceToken = await createUser(t, 'alice');
      // owner columns hold user ids: the even rows are the real alice's
      const alice = (await t.app.inject({ url: '/api/v1/users/me', headers: bearer(aliceToken) })).json<{ id: string }>().id;
      // the history, straight into the store; the feed hears of it like of any commit
      last = await appendStateRows(t.harness.db.url, EVENTS, [alice, 'bob']);
      await t.node.store.notify([{ kind: 'events', lastId: last }]);
    });
    after(() => t.close());

    it('the client resumes from 0 and gets every event once, in order, then live ones', async () => {
      const client = new ShoalClient({ url, token: t.adminToken });
      const stream = client.events({ lastEventId: '0', maxConsecutiveFailures: 3 });
      const ids: number[] = [];
      let liveUid = '';
      for await (const e of stream) {
        ids.push(Number(e.id));
        if (Number(e.id) === last) {
          // the whole history is in: an application created now must arrive live, after it
          const label = await t.app.inject({
            method: 'POST',
            url: '/api/v1/labels',
            headers: bearer(t.adminToken),
            payload: testLabelBody('replay'),
          });
          assert.equal(label.statusCode, 201, label.body);
          const app = await t.app.inject({
            method: 'POST',
            url: '/api/v1/applications',
            headers: bearer(t.adminToken),
            payload: { label: 'replay' },
          });
          assert.equal(app.statusCode, 201, app.body);
          liveUid = app.json<{ uid: string }>().uid;
        }
        if (liveUid !== '' && e.application_uid === liveUid) break;
      }
      stream.close();
      const history = ids.filter((id) => id <= last);
      assertContiguous(history, 0, last);
      assert.ok(ids.length > history.length, 'a live event followed the replay');
      assert.ok(ids.slice(history.length).every((id) => id > last));
    });

    it('a user resuming from the middle gets only her own events after that point', async () => {
      // bulk row x (id = last - EVENTS + x) is alice's when x is even: the last one is hers
      const from = last - EVENTS / 2;
      const got = await readEvents(url, { ...bearer(aliceToken), 'last-event-id': String(from) }, (id) => id >= last);
      assert.equal(got.status, 200);
      assertContiguous(got.ids, from, last, 2);
    });

    if (dialect === 'sqlite') {
      it('a client that stops reading gets headers at once, then `end` naming where to resume; resuming there loses nothing', async () => {
        let paused: IncomingMessage | undefined;
        const ended = t.logs.length;
        const first = readEvents(
          url,
          { ...bearer(t.adminToken), 'last-event-id': '0' },
          () => false,
          (res) => {
            res.pause();
            paused = res;
          },
        );
        // the node gives up on the reader that reads nothing (its log says so) …
        for (let i = 0; i < 600 && !t.logs.slice(ended).some((l) => l.includes('the client read nothing for too long')); i++) {
          await new Promise((r) => setTimeout(r, 50));
        }
        assert.ok(paused, 'the response headers arrived before any reading');
        assert.ok(
          t.logs.slice(ended).some((l) => l.includes('the client read nothing for too long')),
          'the node ended the stream of the client that stopped reading',
        );
        // … and what was sent, plus the end event, is still delivered in order when it reads again
        paused.resume();
        const a = await first;
        assert.equal(a.status, 200);
        assert.ok(a.end, 'the stream closed with an `end` event');
        const data = JSON.parse(a.end.data) as { reason: string; last_event_id: string };
        assert.equal(data.reason, 'slow');
        assert.equal(a.end.id, data.last_event_id);
        const resumeAt = Number(data.last_event_id);
        assert.ok(resumeAt < last, `ended before the history was through (${resumeAt})`);
        assertContiguous(a.ids, 0, resumeAt);
        const b = await readEvents(url, { ...bearer(t.adminToken), 'last-event-id': String(resumeAt) }, (id) => id >= last);
        assertContiguous(b.ids, resumeAt, last);
      });
    }
  });
}
