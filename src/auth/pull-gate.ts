/**
 * Enforcement on the pull API. With AUTH=uaa every request under `/v2/` needs a registry token,
 * and a repository endpoint a token granting pull on that repository; otherwise 401 with a
 * challenge naming the scope to ask for. A token that records Cloud Controller's refusal answers
 * as Cloud Controller did: 403 DENIED, or 404 NAME_UNKNOWN (whether the app exists stays hidden).
 * A granted repository comes with the guid of the app that was checked: the request is served
 * from that app, never from whatever the name resolves to by now.
 */
import { RegistryError } from '../errors/registry-error.ts';
import { bearerToken } from './credentials.ts';
import { bearerChallenge, type RegistryOrigin } from './registry-origin.ts';
import type { Grant, RegistryTokens } from './registry-tokens.ts';

export interface GateRequest {
  readonly authorization: string | undefined;
  readonly origin: RegistryOrigin;
}

export interface PullGate {
  /** `GET /v2/`: any valid token. */
  admit(request: GateRequest): Promise<void>;
  /**
   * A repository endpoint: pull on `name`. Resolves to the guid of the app the grant is bound to,
   * or `undefined` when nothing was checked (AUTH=none: the name is resolved as it stands).
   */
  authorize(request: GateRequest, name: string): Promise<string | undefined>;
}

/** AUTH=none: everyone may pull everything. */
export const OPEN_GATE: PullGate = {
  admit: async () => {},
  authorize: async () => undefined,
};

export class TokenGate implements PullGate {
  readonly #tokens: RegistryTokens;

  constructor(tokens: RegistryTokens) {
    this.#tokens = tokens;
  }

  async admit(request: GateRequest): Promise<void> {
    if (!(await this.#grant(request))) throw unauthorized(request.origin);
  }

  async authorize(request: GateRequest, name: string): Promise<string> {
    const grant = await this.#grant(request);
    const granted = grant?.access.find((access) => access.name === name);
    if (granted) return granted.appGuid;
    const refusal = grant?.denied.find((denied) => denied.name === name)?.reason;
    if (refusal === 'not_found') throw new RegistryError('NAME_UNKNOWN', `repository ${name} not found`, { detail: { name } });
    if (refusal === 'forbidden') {
      throw new RegistryError(
        'DENIED',
        `${grant?.userName} may not download droplets of this app: only its space developers, managers and auditors, org managers and admins may; space supporters cannot`,
        { detail: { name } },
      );
    }
    throw unauthorized(request.origin, `repository:${name}:pull`);
  }

  async #grant(request: GateRequest): Promise<Grant | undefined> {
    const token = bearerToken(request.authorization);
    return token === undefined ? undefined : this.#tokens.verify(token, request.origin);
  }
}

function unauthorized(origin: RegistryOrigin, scope?: string): RegistryError {
  return new RegistryError('UNAUTHORIZED', 'authentication required: log in with your Cloud Foundry user (docker login)', {
    headers: { 'WWW-Authenticate': bearerChallenge(origin, scope) },
  });
}
