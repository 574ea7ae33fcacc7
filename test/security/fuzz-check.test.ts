import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RawResponse } from '../helpers/raw-http.js';
import { answerProblems, errorShapeProblems, requestIdOf } from './fuzz-check.js';

const answer = (status: number, body: string, contentType = 'application/json; charset=utf-8', trailing?: string): RawResponse => ({
  status,
  headers: contentType === '' ? {} : { 'content-type': contentType },
  body: Buffer.from(body),
  streamed: false,
  trailing: trailing === undefined ? undefined : Buffer.from(trailing),
});

describe('fuzz-check: what the fuzzer calls a bad answer', () => {
  const opts = { head: false, allow503: false };

  it('accepts a 4xx in the one error shape with a documented code, and a JSON 2xx', () => {
    assert.deepEqual(answerProblems(answer(404, '{"error":{"code":"NOT_FOUND","message":"no such label"}}'), opts), []);
    assert.deepEqual(answerProblems(answer(400, '{"error":{"code":"INVALID","message":"x","details":{"field":"name"}}}'), opts), []);
    assert.deepEqual(answerProblems(answer(200, '{"items":[]}'), opts), []);
  });

  it('refuses any 5xx, and a 503 unless the route documents it and it is UNAVAILABLE', () => {
    assert.equal(answerProblems(answer(500, '{"error":{"code":"INTERNAL","message":"internal error"}}'), opts).length, 1);
    assert.equal(answerProblems(answer(503, '{"error":{"code":"UNAVAILABLE","message":"maintenance"}}'), opts).length, 1);
    assert.deepEqual(
      answerProblems(answer(503, '{"error":{"code":"UNAVAILABLE","message":"maintenance"}}'), { head: false, allow503: true }),
      [],
    );
    assert.equal(answerProblems(answer(503, '{"error":{"code":"INTERNAL","message":"x"}}'), { head: false, allow503: true }).length, 1);
  });

  it("refuses other error shapes: Fastify's own, extra keys, unknown codes, no JSON, no content type", () => {
    const fastify = '{"error":"Bad Request","code":"FST_ERR_BAD_URL","message":"bad","statusCode":400}';
    assert.ok(errorShapeProblems('application/json', fastify).length > 0);
    assert.ok(errorShapeProblems('application/json', '{"error":{"code":"INVALID","message":"x","stack":"at …"}}').length > 0);
    assert.ok(errorShapeProblems('application/json', '{"error":{"code":"NOPE","message":"x"}}').length > 0);
    assert.ok(errorShapeProblems('application/json', '{"error":{"code":"INVALID","message":""}}').length > 0);
    assert.ok(errorShapeProblems('application/json', 'Bad Request').length > 0);
    assert.ok(answerProblems(answer(431, '', ''), opts).length > 0, 'a bare 431 from Node');
    assert.deepEqual(answerProblems(answer(405, '', ''), { head: true, allow503: false }), [], 'HEAD answers carry no body');
  });

  it('refuses a second answer on the same connection and a JSON success that is not JSON', () => {
    const p = answerProblems(
      answer(401, '{"error":{"code":"UNAUTHORIZED","message":"x"}}', undefined, 'HTTP/1.1 400 Bad Request\r\n\r\n'),
      opts,
    );
    assert.equal(p.length, 1);
    assert.match(p[0] as string, /second answer/);
    assert.equal(answerProblems(answer(200, '{"items":'), opts).length, 1);
  });

  it('finds the request id of an INTERNAL error for the log excerpt', () => {
    assert.equal(
      requestIdOf(answer(500, '{"error":{"code":"INTERNAL","message":"internal error (request req-1f); the node\'s log has the cause"}}')),
      'req-1f',
    );
    assert.equal(requestIdOf(answer(404, '{"error":{"code":"NOT_FOUND","message":"x"}}')), null);
  });
});
