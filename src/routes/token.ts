/**
 * The token endpoint (distribution's token spec, as clients call it): `GET /v2/token` with Basic
 * credentials (docker login, and every pull: `account`, repeated `scope`, `service`,
 * `offline_token`, `client_id`), and `POST /v2/token` with containerd's OAuth2 password form.
 * Other grant types get an OAuth-style 400, on which containerd falls back to GET. No
 * `refresh_token` is ever sent: Docker would switch to OAuth refreshes.
 */
import type { Readable } from 'node:stream';
import type { Request, ResponseObject, ResponseToolkit, ServerRoute } from '@hapi/hapi';
import { basicCredentials, type Credentials } from '../auth/credentials.ts';
import { bearerChallenge, type OriginSettings } from '../auth/registry-origin.ts';
import type { IssuedToken } from '../auth/registry-tokens.ts';
import type { TokenService } from '../auth/token-service.ts';
import { RegistryError } from '../errors/registry-error.ts';
import { readBoundedBody } from './bounded-body.ts';
import { clientAddress, headerValue, requestOrigin } from './request-origin.ts';

/** A password form is a few hundred bytes; hapi's usual limit. */
const FORM_MAX_BYTES = 1024 * 1024;

export function tokenRoutes(tokens: TokenService, origin: OriginSettings, trustedProxyHops: number): ServerRoute[] {
  const issue = async (request: Request, h: ResponseToolkit, credentials: Credentials, scopes: string[]): Promise<ResponseObject> => {
    const issued = await tokens.issue({ credentials, scopes, clientAddress: clientAddress(request, trustedProxyHops), origin: requestOrigin(request, origin) });
    return answer(h, issued);
  };
  return [
    {
      method: 'GET',
      path: '/v2/token',
      handler: (request, h) => {
        const credentials = basicCredentials(headerValue(request, 'authorization'));
        if (!credentials) {
          throw new RegistryError('UNAUTHORIZED', 'log in with your Cloud Foundry user (docker login) or a UAA token (cf oauth-token)', {
            headers: { 'WWW-Authenticate': bearerChallenge(requestOrigin(request, origin)) },
          });
        }
        return issue(request, h, credentials, values(request.query.scope));
      },
    },
    {
      method: 'POST',
      path: '/v2/token',
      // Read as the form it is whatever Content-Type says, so a bad one is an OAuth 400 like any
      // other; read here rather than by hapi, whose limit (lifted) answers only after reading the rest.
      options: { payload: { parse: false, output: 'stream', maxBytes: Number.MAX_SAFE_INTEGER } },
      handler: async (request, h) => {
        const body = await readBoundedBody(request.payload as Readable, headerValue(request, 'content-length'), FORM_MAX_BYTES);
        const form = new URLSearchParams(body.toString('utf8'));
        const grantType = form.get('grant_type');
        if (grantType !== 'password') {
          return oauthError(h, 'unsupported_grant_type', `grant_type ${JSON.stringify(grantType ?? '')} is not supported here; use password, or GET with Basic credentials`);
        }
        const username = form.get('username');
        const password = form.get('password');
        if (username === null || password === null) return oauthError(h, 'invalid_request', 'username and password are required');
        return issue(request, h, { username, password }, form.getAll('scope'));
      },
    },
  ];
}

function answer(h: ResponseToolkit, issued: IssuedToken): ResponseObject {
  return h
    .response({ token: issued.token, access_token: issued.token, expires_in: issued.expiresIn, issued_at: issued.issuedAt })
    .type('application/json')
    .header('Cache-Control', 'no-store');
}

function oauthError(h: ResponseToolkit, error: string, description: string): ResponseObject {
  return h.response({ error, error_description: description }).code(400).type('application/json');
}

function values(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}
