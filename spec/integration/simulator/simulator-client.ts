/**
 * How the simulator specs talk to the simulator: over real HTTP, the way the registry will, so the
 * specs pin the wire format and not the simulator's internals.
 */
import { standardDroplet } from '../../support/build-droplet.ts';
import { seedFoundation, startCfSimulator, type CfSimulator, type SeededFoundation, type StartCfSimulatorOptions } from '../../support/cf-simulator/index.ts';

export interface Reply {
  readonly status: number;
  readonly headers: Headers;
  /**
   * Parsed JSON when the body is JSON, else the text. Deliberately untyped: the specs pin wire
   * shapes with deepEqual, so a typed model here would only restate what they assert.
   */
  readonly body: any;
}

/** A started, seeded simulator whose droplets are real standard `.tgz` droplets. */
export async function startSeeded(options: StartCfSimulatorOptions = {}): Promise<{ cf: CfSimulator; seeded: SeededFoundation }> {
  const cf = await startCfSimulator(options);
  const seeded = seedFoundation(cf, { dropletBytes: ({ startCommand }) => standardDroplet({ startCommand }) });
  return { cf, seeded };
}

/** `POST /oauth/token` with the client in a Basic header. */
export async function requestToken(cf: CfSimulator, client: { id: string; secret: string }, form: Record<string, string>): Promise<Reply> {
  return send(`${cf.uaaUrl}/oauth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}` },
    body: new URLSearchParams(form).toString(),
  });
}

export async function clientToken(cf: CfSimulator, client: { id: string; secret: string }): Promise<string> {
  return accessToken(await requestToken(cf, client, { grant_type: 'client_credentials' }));
}

/** A user's access token through the `cf` client, as `cf login` gets it. */
export async function userToken(cf: CfSimulator, user: { username: string; password: string }): Promise<string> {
  return accessToken(await requestToken(cf, { id: 'cf', secret: '' }, { grant_type: 'password', username: user.username, password: user.password }));
}

/** A CAPI GET (redirects not followed) with `bearer <token>` when a token is given. */
export async function capiGet(cf: CfSimulator, path: string, token?: string, headers: Record<string, string> = {}): Promise<Reply> {
  return send(`${cf.capiUrl}${path}`, { headers: { ...(token === undefined ? {} : { Authorization: `bearer ${token}` }), ...headers } });
}

/** Any request, redirects not followed, body read whole. */
export async function send(url: string, init: RequestInit = {}): Promise<Reply> {
  const response = await fetch(url, { redirect: 'manual', ...init });
  const text = await response.text();
  const json = (response.headers.get('content-type') ?? '').includes('json') || text.startsWith('{');
  return { status: response.status, headers: response.headers, body: json && text !== '' ? JSON.parse(text) : text };
}

/** The claims of a JWT, unverified. */
export function claimsOf(token: string): Record<string, any> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, any>;
}

function accessToken(reply: Reply): string {
  if (reply.status !== 200) throw new Error(`token request failed: ${reply.status} ${JSON.stringify(reply.body)}`);
  return reply.body.access_token as string;
}
