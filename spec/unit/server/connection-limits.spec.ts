/**
 * The connection limits on a plain Node listener: which client errors get Node's own answer
 * (431, 408) instead of hapi's bare 400, when nothing may be written any more, and that a client
 * which never finishes its headers is cut off near the limit rather than at Node's 30 s check.
 * The limits against the whole registry are in spec/integration/hostile/request-limits.spec.ts.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { applyConnectionLimits, type ConnectionLimits } from '../../../src/server/connection-limits.ts';

const LIMITS: ConnectionLimits = { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, responseStallTimeoutMs: 60_000 };

/** A socket as the clientError listener sees it; records what is written and whether it was destroyed. */
function clientSocket(state: { writable?: boolean; responseBegun?: boolean | null } = {}): Socket & { written: string[]; destroyedByUs: boolean } {
  const socket = {
    writable: state.writable ?? true,
    _httpMessage: state.responseBegun === undefined || state.responseBegun === null ? null : { headersSent: state.responseBegun },
    written: [] as string[],
    destroyedByUs: false,
    write(data: string) {
      socket.written.push(data);
      return true;
    },
    destroy() {
      socket.destroyedByUs = true;
    },
  };
  return socket as unknown as Socket & { written: string[]; destroyedByUs: boolean };
}

function clientError(code: string | undefined): NodeJS.ErrnoException {
  return Object.assign(new Error(`client error ${code}`), code === undefined ? {} : { code });
}

/** A listener with the limits, and what the listener registered after them (hapi's) was given. */
function limitedListener(limits: ConnectionLimits = LIMITS): { listener: Server; laterListenerSaw: Socket[] } {
  const listener = createServer();
  const laterListenerSaw: Socket[] = [];
  applyConnectionLimits(listener, limits);
  listener.on('clientError', (_error, socket) => void laterListenerSaw.push(socket as Socket));
  return { listener, laterListenerSaw };
}

describe('connection limits', () => {
  describe('client errors', () => {
    it('answer headers (or a URL) over the limit with 431 and close the connection', () => {
      const { listener } = limitedListener();
      const socket = clientSocket();
      listener.emit('clientError', clientError('HPE_HEADER_OVERFLOW'), socket);
      assert.deepEqual(socket.written, ['HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n']);
      assert.equal(socket.destroyedByUs, true);
    });

    it('answer a request that took too long with 408 and close the connection', () => {
      const { listener } = limitedListener();
      const socket = clientSocket();
      listener.emit('clientError', clientError('ERR_HTTP_REQUEST_TIMEOUT'), socket);
      assert.deepEqual(socket.written, ['HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n']);
      assert.equal(socket.destroyedByUs, true);
    });

    it('leave every other client error to the listener after them (hapi answers 400)', () => {
      const { listener, laterListenerSaw } = limitedListener();
      for (const code of ['HPE_INVALID_METHOD', 'HPE_INVALID_HEADER_TOKEN', 'ECONNRESET', undefined]) {
        const socket = clientSocket();
        listener.emit('clientError', clientError(code), socket);
        assert.deepEqual(socket.written, [], String(code));
        assert.equal(socket.destroyedByUs, false, String(code));
      }
      assert.equal(laterListenerSaw.length, 4);
    });

    it('come before the listener registered after them, which then finds the connection closed', () => {
      const { listener, laterListenerSaw } = limitedListener();
      const socket = clientSocket();
      listener.emit('clientError', clientError('HPE_HEADER_OVERFLOW'), socket);
      assert.deepEqual(laterListenerSaw, [socket]);
      assert.equal(socket.destroyedByUs, true, 'already closed when the later listener runs');
    });

    it('write nothing into a response already under way, nor on a connection that takes no more writes', () => {
      const { listener } = limitedListener();
      const midResponse = clientSocket({ responseBegun: true });
      listener.emit('clientError', clientError('ERR_HTTP_REQUEST_TIMEOUT'), midResponse);
      assert.deepEqual(midResponse.written, []);
      const gone = clientSocket({ writable: false });
      listener.emit('clientError', clientError('HPE_HEADER_OVERFLOW'), gone);
      assert.deepEqual(gone.written, []);
    });

    it('answer on a keep-alive connection between two requests', () => {
      const { listener } = limitedListener();
      const between = clientSocket({ responseBegun: false });
      listener.emit('clientError', clientError('HPE_HEADER_OVERFLOW'), between);
      assert.equal(between.written.length, 1);
    });
  });

  describe("Node's timeouts", () => {
    it('take the headers limit, and never give the whole request less time than its headers', () => {
      const { listener } = limitedListener({ headersTimeoutMs: 5_000, requestTimeoutMs: 2_000, responseStallTimeoutMs: 60_000 });
      assert.equal(listener.headersTimeout, 5_000);
      assert.equal(listener.requestTimeout, 5_000);
      const { listener: roomier } = limitedListener({ headersTimeoutMs: 5_000, requestTimeoutMs: 20_000, responseStallTimeoutMs: 60_000 });
      assert.equal(roomier.requestTimeout, 20_000);
    });

    it('cut off a client that never finishes its headers with 408, long before Node would check on its own (30 s)', { timeout: 10_000 }, async () => {
      const { listener } = limitedListener({ headersTimeoutMs: 200, requestTimeoutMs: 200, responseStallTimeoutMs: 60_000 });
      await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
      try {
        const socket = connect((listener.address() as AddressInfo).port, '127.0.0.1');
        const received = await new Promise<string>((resolve, reject) => {
          let data = '';
          socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
          socket.on('close', () => resolve(data));
          socket.on('error', reject);
          socket.write('GET /v2/ HTTP/1.1\r\nHost: registry\r\nX-Trickle: ');
        });
        assert.match(received, /^HTTP\/1\.1 408 Request Timeout\r\n/);
      } finally {
        listener.closeAllConnections();
        await new Promise((resolve) => listener.close(resolve));
      }
    });
  });
});
