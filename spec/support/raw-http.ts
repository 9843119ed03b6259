/**
 * HTTP/1.1 spoken byte by byte over a plain socket, for hostile-client tests: what no HTTP client
 * library sends (literal `..` in paths, headers over the server's limit, a request trickled one byte
 * at a time) and what no library shows (whether the server closed the connection, and when).
 */
import { connect, type Socket } from 'node:net';

/** What came back on one connection. */
export interface RawExchange {
  /** Everything the server sent, as latin1 text. */
  readonly received: string;
  /** The status of the first response, if one began. */
  readonly status: number | undefined;
  /** The server closed the connection (rather than the test giving up). */
  readonly closedByServer: boolean;
}

export interface RawRequestOptions {
  /** Bytes sent after `request`, one every `trickleEveryMs`, until the server closes or they run out. */
  readonly trickle?: string;
  readonly trickleEveryMs?: number;
  /** Give up (and close from this side) after this long; default 30 s. */
  readonly giveUpAfterMs?: number;
  /** Resolve as soon as a whole response head arrived, leaving the connection open (`socket` in the answer). */
  readonly keepOpen?: boolean;
}

/** Sends `request` as is, then the trickle, and reports what the server did. */
export function rawRequest(port: number, request: string, options: RawRequestOptions = {}): Promise<RawExchange & { socket: Socket }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let settled = false;
    let trickleTimer: NodeJS.Timeout | undefined;
    const finish = (closedByServer: boolean): void => {
      if (settled) return;
      settled = true;
      clearInterval(trickleTimer);
      clearTimeout(giveUp);
      const received = Buffer.concat(chunks).toString('latin1');
      const status = /^HTTP\/1\.1 (\d{3})/.exec(received)?.[1];
      if (!options.keepOpen) socket.destroy();
      resolve({ received, status: status === undefined ? undefined : Number(status), closedByServer, socket });
    };
    const giveUp = setTimeout(() => finish(false), options.giveUpAfterMs ?? 30_000);
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      if (options.keepOpen && Buffer.concat(chunks).includes('\r\n\r\n')) finish(false);
    });
    socket.on('close', () => finish(true));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // A reset after the server gave up on us is the server closing too.
      if (error.code === 'ECONNRESET' || error.code === 'EPIPE') finish(true);
      else if (!settled) reject(error);
    });
    socket.on('connect', () => {
      socket.write(request);
      const trickle = [...(options.trickle ?? '')];
      if (trickle.length === 0) return;
      trickleTimer = setInterval(() => {
        const next = trickle.shift();
        if (next === undefined || socket.destroyed) clearInterval(trickleTimer);
        else socket.write(next);
      }, options.trickleEveryMs ?? 100);
    });
  });
}
