/**
 * UAA's HTTP face: `POST /oauth/token` (client_credentials, password and refresh_token grants), `/token_keys`,
 * `/token_key` and the OpenID configuration, with UAA's error bodies.
 *
 * Bad credentials: UAA answers 401 `{"error":"unauthorized","error_description":"Bad credentials"}`
 * for a wrong client secret (cloudfoundry/uaa#2545) and, since it sided with usability over RFC 6749
 * (cloudfoundry/uaa#599), a 401 for a wrong user password too. The reference quotes
 * `invalid_client` for the latter from TokenMvcMockTests; versions differ, so the simulator uses
 * `unauthorized` for both and clients should treat any 401 as bad credentials.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { InjectedStatus } from './faults.ts';
import { admit, sendRouterError, type FrontDoorDeps } from './front-door.ts';
import { listen, readBody, routeMatcher, sendJson, sendText, type ListeningServer } from './http.ts';
import { toJwk } from './uaa-keys.ts';
import { InvalidScope, type IssuedTokens, type Uaa, type UaaClient } from './uaa.ts';

type UaaHandler = (request: IncomingMessage, response: ServerResponse, uaa: Uaa, deps: FrontDoorDeps) => Promise<void> | void;

const ROUTES = [
  routeMatcher<UaaHandler>('POST /oauth/token', token),
  routeMatcher<UaaHandler>('GET /token_keys', (request, response, uaa) => sendWithEtag(request, response, { keys: uaa.keys.jwks() })),
  routeMatcher<UaaHandler>('GET /token_key', (request, response, uaa) => sendWithEtag(request, response, toJwk(uaa.keys.active))),
  routeMatcher<UaaHandler>('GET /.well-known/openid-configuration', (_request, response, uaa) => sendJson(response, 200, openIdConfiguration(uaa))),
];

/** Starts the UAA server and tells `uaa` its URL (the token issuer derives from it). */
export async function startUaaServer(uaa: Uaa, deps: FrontDoorDeps, host: string, port: number): Promise<ListeningServer> {
  const server = await listen(
    async (request, response) => {
      const path = new URL(request.url ?? '/', 'http://uaa').pathname;
      const method = request.method ?? 'GET';
      const route = ROUTES.find((candidate) => candidate.match(method, path));
      if (!(await admit('uaa', route?.name ?? `${method} <unmatched>`, request, response, deps, (res, status) => failure(res, status, host)))) return;
      if (!route) {
        sendJson(response, 404, { error: 'not_found', error_description: `No resource found for ${path}` });
        return;
      }
      await route.value(request, response, uaa, deps);
    },
    host,
    port,
  );
  uaa.url = server.url;
  return server;
}

async function token(request: IncomingMessage, response: ServerResponse, uaa: Uaa, deps: FrontDoorDeps): Promise<void> {
  if (new URL(request.url ?? '/', 'http://uaa').search !== '') {
    oauthError(response, 400, 'invalid_request', 'Parameters must be passed in the body of the request');
    return;
  }
  const form = new URLSearchParams(await readBody(request));
  const client = authenticateClient(request, form, uaa, deps);
  if (!client) {
    // The WWW-Authenticate header is what UAA's client Basic-auth filter adds.
    oauthError(response, 401, 'unauthorized', 'Bad credentials', { 'WWW-Authenticate': 'Basic realm="UAA/client", error="unauthorized", error_description="Bad credentials"' });
    return;
  }
  const grantType = form.get('grant_type');
  if (!grantType) {
    oauthError(response, 400, 'invalid_request', 'Missing grant type');
    return;
  }
  if (grantType !== 'client_credentials' && grantType !== 'password' && grantType !== 'refresh_token') {
    oauthError(response, 400, 'unsupported_grant_type', `Unsupported grant type: ${grantType}`);
    return;
  }
  if (!client.grantTypes.has(grantType)) {
    oauthError(response, 401, 'invalid_client', `Unauthorized grant type: ${grantType}`);
    return;
  }
  const requested = form.get('scope') ? (form.get('scope') ?? '').split(/[\s,]+/).filter(Boolean) : null;
  let issued: IssuedTokens | InvalidScope;
  if (grantType === 'client_credentials') {
    issued = uaa.clientCredentialsGrant(client, requested);
  } else if (grantType === 'refresh_token') {
    const user = uaa.refreshTokenOwner(form.get('refresh_token') ?? '', client);
    if (!user) {
      oauthError(response, 401, 'invalid_token', 'Invalid refresh token');
      return;
    }
    issued = uaa.passwordGrant(client, user, requested);
  } else {
    const user = uaa.user(form.get('username') ?? '');
    if (!user || user.password !== form.get('password')) {
      oauthError(response, 401, 'unauthorized', 'Bad credentials');
      return;
    }
    issued = uaa.passwordGrant(client, user, requested);
  }
  if (issued instanceof InvalidScope) {
    oauthError(response, 400, 'invalid_scope', `Invalid scope: ${issued.scopes.join(' ')}. Did you know that you can get default scopes by simply sending no value?`);
    return;
  }
  const validity = Number(issued.claims.exp) - Number(issued.claims.iat);
  sendJson(
    response,
    200,
    {
      access_token: issued.accessToken,
      token_type: 'bearer',
      ...(issued.refreshToken === null ? {} : { refresh_token: issued.refreshToken }),
      // UAA counts down from the expiry at answer time, milliseconds later: 43199 for a 43200 s validity.
      expires_in: Math.max(0, validity - 1),
      scope: (issued.claims.scope as string[]).join(' '),
      jti: issued.claims.jti,
    },
    { 'Cache-Control': 'no-store', Pragma: 'no-cache' },
  );
}

/** HTTP Basic `id:secret` (the cf CLI sends `cf:`), or `client_id`/`client_secret` form fields. */
function authenticateClient(request: IncomingMessage, form: URLSearchParams, uaa: Uaa, deps: FrontDoorDeps): UaaClient | null {
  let id = form.get('client_id');
  let secret = form.get('client_secret') ?? '';
  const basic = /^basic\s+(\S+)$/i.exec(request.headers.authorization ?? '');
  if (basic) {
    const decoded = Buffer.from(basic[1] ?? '', 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    id = colon < 0 ? decoded : decoded.slice(0, colon);
    secret = colon < 0 ? '' : decoded.slice(colon + 1);
  }
  const client = id === null ? undefined : uaa.client(id);
  if (!client || client.secret !== secret || deps.faults.isClientRejected(client.id)) return null;
  return client;
}

function openIdConfiguration(uaa: Uaa) {
  return {
    issuer: uaa.issuer,
    authorization_endpoint: `${uaa.url}/oauth/authorize`,
    token_endpoint: `${uaa.url}/oauth/token`,
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    token_endpoint_auth_signing_alg_values_supported: ['RS256', 'HS256'],
    userinfo_endpoint: `${uaa.url}/userinfo`,
    jwks_uri: `${uaa.url}/token_keys`,
    scopes_supported: ['openid', 'profile', 'email', 'phone', 'roles', 'user_attributes'],
    response_types_supported: ['code', 'code id_token', 'id_token', 'token id_token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256', 'HS256'],
    claim_types_supported: ['normal'],
    claims_supported: ['sub', 'user_name', 'origin', 'iss', 'auth_time', 'amr', 'acr', 'client_id', 'aud', 'zid', 'grant_type', 'user_id', 'azp', 'scope', 'exp', 'iat', 'jti', 'rev_sig', 'cid', 'given_name', 'family_name', 'phone_number', 'email'],
    claims_parameter_supported: false,
    service_documentation: 'http://docs.cloudfoundry.org/api/uaa/',
    ui_locales_supported: ['en-US'],
  };
}

/** `/token_keys` and `/token_key` support the ETag / If-None-Match cycle, so key caches can revalidate cheaply. */
function sendWithEtag(request: IncomingMessage, response: ServerResponse, body: unknown): void {
  const etag = `"${createHash('sha256').update(JSON.stringify(body)).digest('hex').slice(0, 32)}"`;
  if (request.headers['if-none-match'] === etag) {
    response.writeHead(304, { ETag: etag });
    response.end();
    return;
  }
  sendJson(response, 200, body, { ETag: etag });
}

function oauthError(response: ServerResponse, status: number, error: string, description: string, headers: Record<string, string> = {}): void {
  sendJson(response, status, { error, error_description: description }, headers);
}

function failure(response: ServerResponse, status: InjectedStatus, host: string): void {
  if (status === 502 || status === 503) sendRouterError(response, status, host);
  else if (status === 429) sendText(response, 429, 'Too Many Requests\n');
  else oauthError(response, 500, 'server_error', 'Internal Server Error');
}
