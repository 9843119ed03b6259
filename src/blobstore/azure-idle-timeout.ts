/**
 * A request policy for the Azure SDK's pipeline that bounds every request by inactivity. The SDK
 * times out only while waiting for response headers, and only when asked: a storage account that
 * takes a request and then stalls (mid-upload, mid-download) would hold a conversion or a pull for
 * good. Requests here go through agents whose sockets are destroyed once they have sent and
 * received nothing for `idleTimeoutMs`, connecting included; the SDK then retries or reports it.
 */
import type { RequestPolicyFactory } from '@azure/storage-blob';
import { Agent as HttpAgent, type ClientRequestArgs } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Duplex } from 'node:stream';

type ConnectionCallback = (error: Error | null, stream: Duplex) => void;

/** Node's agents set the socket timeout but destroy only idle pooled sockets on it, not busy ones. */
function destroyWhenIdle(socket: Duplex | null | undefined, idleTimeoutMs: number): Duplex | null | undefined {
  socket?.on('timeout', () => socket.destroy(new Error(`Azure Blob Storage sent and received nothing for ${idleTimeoutMs} ms`)));
  return socket;
}

class IdleTimeoutHttpAgent extends HttpAgent {
  readonly #idleTimeoutMs: number;

  constructor(idleTimeoutMs: number) {
    super({ keepAlive: true, timeout: idleTimeoutMs });
    this.#idleTimeoutMs = idleTimeoutMs;
  }

  override createConnection(options: ClientRequestArgs, callback?: ConnectionCallback): Duplex | null | undefined {
    return destroyWhenIdle(super.createConnection(options, callback), this.#idleTimeoutMs);
  }
}

class IdleTimeoutHttpsAgent extends HttpsAgent {
  readonly #idleTimeoutMs: number;

  constructor(idleTimeoutMs: number) {
    super({ keepAlive: true, timeout: idleTimeoutMs });
    this.#idleTimeoutMs = idleTimeoutMs;
  }

  override createConnection(options: ClientRequestArgs, callback?: ConnectionCallback): Duplex | null | undefined {
    return destroyWhenIdle(super.createConnection(options, callback), this.#idleTimeoutMs);
  }
}

/** Added to a `newPipeline()`'s factories: sends each request through the idle-bounded agents. */
export function idleTimeoutPolicy(idleTimeoutMs: number): RequestPolicyFactory {
  const http = new IdleTimeoutHttpAgent(idleTimeoutMs);
  const https = new IdleTimeoutHttpsAgent(idleTimeoutMs);
  return {
    create: (next) => ({
      sendRequest(request) {
        request.agent = request.url.startsWith('https:') ? https : http;
        return next.sendRequest(request);
      },
    }),
  };
}
