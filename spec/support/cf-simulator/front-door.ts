/**
 * What happens to every request before a simulated server handles it: it is counted, held for the
 * server's constant latency (`startCfSimulator({ latencyMs })`), then any injected delay or failure
 * for its route is applied. Shared by CAPI, UAA and the blobstore so latency, faults and counters
 * behave the same on all three.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CannedAnswer, Faults, InjectedStatus, SimulatedServer } from './faults.ts';
import { sendText } from './http.ts';
import type { RequestLog } from './request-log.ts';

export interface FrontDoorDeps {
  readonly faults: Faults;
  readonly requests: RequestLog;
  /** Aborted when the simulator stops, so stalled requests do not keep the process alive. */
  readonly stopping: AbortSignal;
  /** Milliseconds every request to a server waits before it is handled (a network and server round trip); absent or 0: none. */
  readonly latencyMs?: Readonly<Partial<Record<SimulatedServer, number>>>;
}

/**
 * Records the request and applies faults. Returns false when the request has been answered (or
 * dropped because the simulator is stopping) and must not be handled.
 */
export async function admit(
  server: SimulatedServer,
  route: string,
  request: IncomingMessage,
  response: ServerResponse,
  deps: FrontDoorDeps,
  renderFailure: (response: ServerResponse, status: InjectedStatus) => void,
): Promise<boolean> {
  const recorded = deps.requests.record({
    server,
    method: request.method ?? 'GET',
    route,
    url: request.url ?? '/',
    hadAuthorization: request.headers.authorization !== undefined,
  });
  response.on('finish', () => {
    recorded.status = response.statusCode;
  });
  response.on('close', () => deps.requests.closed(recorded));
  // The constant latency first, then an injected delay on top of it: a stall is a slow answer of a
  // server that is already some distance away.
  for (const wait of [deps.latencyMs?.[server] ?? 0, deps.faults.takeDelay(server, route) ?? 0]) {
    if (wait <= 0) continue;
    try {
      await sleep(wait, undefined, { signal: deps.stopping });
    } catch {
      response.destroy();
      return false;
    }
  }
  const failure = deps.faults.takeFailure(server, route);
  if (failure !== null) {
    renderFailure(response, failure);
    return false;
  }
  const answer = deps.faults.takeAnswer(server, route);
  if (answer === null) return true;
  await sendCannedAnswer(response, answer, deps.stopping);
  return false;
}

/** Writes a canned answer, at once or trickling, until it is all sent or the client hangs up. */
async function sendCannedAnswer(response: ServerResponse, answer: CannedAnswer, stopping: AbortSignal): Promise<void> {
  const payload = Buffer.from(JSON.stringify(answer.body));
  response.writeHead(answer.status ?? 200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(payload.length) });
  if (answer.trickleMs === undefined) {
    response.end(payload);
    return;
  }
  let hungUp = false;
  response.once('close', () => {
    hungUp = true;
  });
  for (const [index, byte] of payload.entries()) {
    try {
      await sleep(answer.trickleMs, undefined, { signal: stopping });
    } catch {
      response.destroy();
      return;
    }
    if (hungUp) return;
    if (index === payload.length - 1) response.end(Buffer.of(byte));
    else response.write(Buffer.of(byte));
  }
}

/**
 * gorouter's own answers when the backend fails (502) or has no healthy instance (503): plain text
 * with `X-Cf-Routererror`, not the component's JSON error shape.
 */
export function sendRouterError(response: ServerResponse, status: 502 | 503, host: string): void {
  if (status === 502) {
    sendText(response, 502, '502 Bad Gateway: Registered endpoint failed to handle the request.\n', { 'X-Cf-Routererror': 'endpoint_failure' });
  } else {
    sendText(response, 503, `503 Service Unavailable: Requested route ('${host}') has no available endpoints.\n`, { 'X-Cf-Routererror': 'no_endpoints' });
  }
}
