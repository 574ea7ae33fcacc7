import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SseParser, type SseMessage } from './sse-parser.js';

function parse(chunks: Array<string | Uint8Array>, initialId?: string): { messages: SseMessage[]; retries: number[]; parser: SseParser } {
  const messages: SseMessage[] = [];
  const retries: number[] = [];
  const parser = new SseParser({ onMessage: (m) => messages.push(m), onRetry: (ms) => retries.push(ms) }, initialId);
  for (const c of chunks) parser.feed(c);
  return { messages, retries, parser };
}

describe('SseParser', () => {
  it('parses id, event and data, and dispatches on the blank line only', () => {
    const { messages } = parse(['id: 7\nevent: state\ndata: {"a":1}\n\n', 'id: 8\nevent: state\ndata: {"a":2}\n']);
    assert.deepEqual(messages, [{ id: '7', event: 'state', data: '{"a":1}' }]);
  });

  it('joins multi-line data with \\n and defaults the event type to "message"', () => {
    const { messages } = parse(['data: one\ndata: two\ndata:three\n\n']);
    assert.deepEqual(messages, [{ id: undefined, event: 'message', data: 'one\ntwo\nthree' }]);
  });

  it('handles LF, CR and CRLF line ends, also split across chunks', () => {
    const { messages } = parse(['data: a\r', '\ndata: b\r\n\r', '\ndata: c\rdata: d\r\r', 'data: e\n', '\n']);
    assert.deepEqual(
      messages.map((m) => m.data),
      ['a\nb', 'c\nd', 'e'],
    );
  });

  it('keeps the last id across events and ignores comments, unknown fields and ids with NUL', () => {
    const { messages, parser } = parse([': hello\n\nid: 41\ndata: x\n\ndata: y\n\nid: bad\0id\nfoo: bar\ndata: z\n\n']);
    assert.deepEqual(
      messages.map((m) => [m.id, m.data]),
      [
        ['41', 'x'],
        ['41', 'y'],
        ['41', 'z'],
      ],
    );
    assert.equal(parser.lastEventId, '41');
  });

  it('starts from the id it resumed at and moves on with the ids of later events', () => {
    const { messages, parser } = parse(['data: x\n\nid: 99\ndata: y\n\n'], '12');
    assert.deepEqual(
      messages.map((m) => m.id),
      ['12', '99'],
    );
    assert.equal(parser.lastEventId, '99');
  });

  it('passes comments on without the colon', () => {
    const comments: string[] = [];
    const parser = new SseParser({ onMessage: () => undefined, onComment: (c) => comments.push(c) });
    parser.feed(': connected\n\n:ping\n\n');
    assert.deepEqual(
      comments.map((c) => c.trim()),
      ['connected', 'ping'],
    );
  });

  it('reports retry only when it is all digits, and strips a leading BOM', () => {
    const { messages, retries } = parse(['\uFEFFretry: 1500\nretry: 2s\ndata: x\n\n']);
    assert.deepEqual(retries, [1500]);
    assert.equal(messages.length, 1);
  });

  it('decodes a UTF-8 character split across byte chunks', () => {
    const bytes = Buffer.from('data: größe €\n\n', 'utf8');
    const euro = bytes.indexOf(0xe2);
    const { messages } = parse([bytes.subarray(0, euro + 1), bytes.subarray(euro + 1, euro + 2), bytes.subarray(euro + 2)]);
    assert.equal(messages[0]!.data, 'größe €');
  });

  it('a field line without a colon is a field with an empty value; only one space after the colon is removed', () => {
    const { messages } = parse(['data\ndata:  two spaces\n\n']);
    assert.equal(messages[0]!.data, '\n two spaces');
  });

  it('reset() drops a half-received event', () => {
    const { messages, parser } = parse(['data: partial\n']);
    parser.reset();
    parser.feed('data: whole\n\n');
    assert.deepEqual(
      messages.map((m) => m.data),
      ['whole'],
    );
  });
});
