/**
 * The stalled-response watch on stand-ins for what it takes of hapi (the `onPreResponse`
 * extension, the request's socket and response) with node:test's fake clock: a response whose
 * connection stops taking bytes is ended and logged, one that keeps taking them is not, however
 * slowly. A real client that stops reading a real blob is in spec/integration/hostile/stalled-blob-readers.spec.ts.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import type { Server } from '@hapi/hapi';
import { createLogger } from '../../../src/logger.ts';
import { dropStalledResponses } from '../../../src/server/stalled-responses.ts';

const STALL_TIMEOUT_MS = 1000;
/** How often the watch looks (a quarter of the timeout). */
const CHECK_MS = 250;
const CONTINUE = Symbol('continue');

interface Watched {
  /** What the connection has written so far: the test moves it as a reading client would. */
  readonly socket: { bytesWritten: number };
  /** The response, as far as the watch sees it: ended with `destroy()`. */
  readonly response: EventEmitter & { destroyed: boolean };
  readonly lines: Array<Record<string, unknown>>;
}

/** Registers the watch on a stand-in server and has it see one response start (`GET /v2/…/blobs/…`). */
function watchOneResponse(options: { socket?: object } = {}): Watched {
  let onPreResponse: ((request: unknown, h: unknown) => unknown) | undefined;
  const server = { ext: (event: string, method: typeof onPreResponse) => event === 'onPreResponse' && (onPreResponse = method) } as unknown as Server;
  const lines: Array<Record<string, unknown>> = [];
  dropStalledResponses(server, STALL_TIMEOUT_MS, createLogger('info', { destination: { write: (line: string) => void lines.push(JSON.parse(line)) } }));
  assert.ok(onPreResponse, 'the watch is an onPreResponse extension');

  const socket = (options.socket ?? { bytesWritten: 4096 }) as { bytesWritten: number };
  const response = Object.assign(new EventEmitter(), {
    destroyed: false,
    destroy() {
      response.destroyed = true;
    },
  });
  const request = {
    raw: { req: { socket }, res: response },
    method: 'get',
    path: '/v2/my-org/dev/app/blobs/sha256:0000',
    app: { requestId: 'stalled-request' },
    info: { id: 'hapi-id' },
  };
  assert.equal(onPreResponse(request, { continue: CONTINUE }), CONTINUE, 'the response goes on');
  return { socket, response, lines };
}

/** Lets fake time pass a check at a time (so each check sees its own time), calling `between` after each. */
function pass(ms: number, between: () => void = () => undefined): void {
  for (let elapsed = 0; elapsed < ms; elapsed += CHECK_MS) {
    mock.timers.tick(CHECK_MS);
    between();
  }
}

describe('stalled responses', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setInterval', 'Date'], now: 1_700_000_000_000 }));
  afterEach(() => mock.timers.reset());

  it('are ended once the client has taken nothing for the timeout, within a quarter more, and a warning says so', () => {
    const { response, lines } = watchOneResponse();
    pass(STALL_TIMEOUT_MS - CHECK_MS);
    assert.equal(response.destroyed, false, 'not before the timeout');
    assert.deepEqual(lines, []);
    pass(2 * CHECK_MS);
    assert.equal(response.destroyed, true, 'by 1¼ timeouts');
    assert.deepEqual(
      lines.map(({ level, event, request, method, path, timeoutMs, msg }) => ({ level, event, request, method, path, timeoutMs, msg })),
      [
        {
          level: 40,
          event: 'response.stalled',
          request: 'stalled-request',
          method: 'GET',
          path: '/v2/my-org/dev/app/blobs/sha256:0000',
          timeoutMs: STALL_TIMEOUT_MS,
          msg: 'GET /v2/my-org/dev/app/blobs/sha256:0000: the client took nothing for 1000 ms; connection closed',
        },
      ],
    );
    pass(10 * STALL_TIMEOUT_MS);
    assert.equal(lines.length, 1, 'ended once, logged once');
  });

  it('go on as long as the client keeps taking bytes, however slowly', () => {
    const { socket, response, lines } = watchOneResponse();
    pass(100 * STALL_TIMEOUT_MS, () => (socket.bytesWritten += 1));
    assert.equal(response.destroyed, false);
    assert.deepEqual(lines, []);
  });

  it('count the stall from the last byte taken, not from the start of the response', () => {
    const { socket, response } = watchOneResponse();
    pass(5 * STALL_TIMEOUT_MS, () => (socket.bytesWritten += 65_536));
    pass(STALL_TIMEOUT_MS - CHECK_MS);
    assert.equal(response.destroyed, false, 'a full timeout has not passed since the last progress');
    pass(2 * CHECK_MS);
    assert.equal(response.destroyed, true);
  });

  it('are no longer watched once finished, or once the connection has closed', () => {
    const finished = watchOneResponse();
    finished.response.emit('finish');
    const closed = watchOneResponse();
    closed.response.emit('close');
    pass(10 * STALL_TIMEOUT_MS);
    assert.equal(finished.response.destroyed, false);
    assert.equal(closed.response.destroyed, false);
    assert.deepEqual([...finished.lines, ...closed.lines], []);
  });

  it('are not watched when injected (the stand-in socket counts no bytes)', () => {
    const injected = watchOneResponse({ socket: {} });
    pass(10 * STALL_TIMEOUT_MS);
    assert.equal(injected.response.destroyed, false);
    assert.deepEqual(injected.lines, []);
  });
});
