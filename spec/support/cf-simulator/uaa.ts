/**
 * UAA's identities and tokens: OAuth clients, users with their groups, and RS256 JWTs carrying the
 * claims `UaaTokenServices#createJWTAccessToken` puts in. The HTTP side is uaa-server.ts; this part
 * is also what tests use directly to forge defective tokens.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { signJwt, unsignedJwt, verifyRs256, type JwtClaims } from './jwt.ts';
import { generateSigningKey, KeyRing, type SigningKey } from './uaa-keys.ts';

export type GrantType = 'client_credentials' | 'password' | 'refresh_token';

export interface UaaClient {
  readonly id: string;
  readonly secret: string;
  readonly grantTypes: ReadonlySet<GrantType>;
  /** Scopes a user token of this client may carry (intersected with the user's groups). */
  readonly scopes: readonly string[];
  /** What a client_credentials token carries. */
  readonly authorities: readonly string[];
  accessTokenValidity: number;
  readonly refreshTokenValidity: number;
}

export interface UaaUser {
  /** The UAA user id: `user_id` in tokens, the user's guid in Cloud Controller. */
  readonly guid: string;
  readonly username: string;
  readonly password: string;
  readonly email: string;
  readonly origin: string;
  readonly groups: readonly string[];
}

export interface AddClientOptions {
  readonly id: string;
  /** Default: empty, like the `cf` client. */
  readonly secret?: string;
  readonly grantTypes: readonly GrantType[];
  readonly scopes?: readonly string[];
  readonly authorities?: readonly string[];
  /** Seconds; default 43200 (UAA's default). Short values let tests see tokens expire and be renewed. */
  readonly accessTokenValidity?: number;
  readonly refreshTokenValidity?: number;
}

export interface AddUserOptions {
  readonly username: string;
  readonly password: string;
  readonly guid?: string;
  /** Default: the username, as `cf create-user` sets it. */
  readonly email?: string;
  /** Groups on top of the defaults every UAA user gets, e.g. `cloud_controller.admin`. */
  readonly scopes?: readonly string[];
}

export interface IssueTokenOptions {
  readonly clientId: string;
  /** A user token (password-grant shaped) when given, else a client_credentials token. */
  readonly username?: string;
  /** Claims to override; a key set to undefined is removed. */
  readonly claims?: Readonly<Record<string, unknown>>;
  /** `active-key` (default) signs properly; `foreign-key` signs with a key UAA never published, under the active kid; `none` is `alg: none`. */
  readonly signing?: 'active-key' | 'foreign-key' | 'none';
}

export interface IssuedTokens {
  readonly accessToken: string;
  readonly refreshToken: string | null;
  readonly claims: JwtClaims;
}

/** Groups cf-deployment's UAA gives every user (`uaa.user.authorities`). */
const DEFAULT_USER_GROUPS: readonly string[] = [
  'openid', 'scim.me', 'cloud_controller.read', 'cloud_controller.write', 'cloud_controller_service_permissions.read',
  'password.write', 'uaa.user', 'approvals.me', 'oauth.approvals', 'profile', 'roles', 'user_attributes', 'uaa.offline_token',
];

/** cf-deployment's `cf` client: public (empty secret), password grant, 1200 s access tokens. */
const CF_CLIENT: AddClientOptions = {
  id: 'cf',
  secret: '',
  grantTypes: ['password', 'refresh_token'],
  scopes: [
    'network.admin', 'network.write', 'cloud_controller.read', 'cloud_controller.write', 'openid', 'password.write',
    'cloud_controller.admin', 'scim.read', 'scim.write', 'doppler.firehose', 'uaa.user', 'routing.router_groups.read',
    'routing.router_groups.write', 'cloud_controller.admin_read_only', 'cloud_controller.global_auditor', 'perm.admin',
    'clients.read', 'cloud_controller_service_permissions.read',
  ],
  accessTokenValidity: 1200,
};

export class Uaa {
  readonly keys = new KeyRing();
  readonly #clients = new Map<string, UaaClient>();
  readonly #users = new Map<string, UaaUser>();
  #foreignKey: SigningKey | null = null;
  /** Set once the server listens; the issuer derives from it. */
  url = '';

  constructor() {
    this.addClient(CF_CLIENT);
  }

  /** `iss` of every token and `issuer` of the OpenID configuration: `<uaa>/oauth/token`. */
  get issuer(): string {
    return `${this.url}/oauth/token`;
  }

  addClient(options: AddClientOptions): UaaClient {
    const client: UaaClient = {
      id: options.id,
      secret: options.secret ?? '',
      grantTypes: new Set(options.grantTypes),
      scopes: options.scopes ?? ['uaa.none'],
      authorities: options.authorities ?? ['uaa.none'],
      accessTokenValidity: options.accessTokenValidity ?? 43200,
      refreshTokenValidity: options.refreshTokenValidity ?? 2592000,
    };
    this.#clients.set(client.id, client);
    return client;
  }

  addUser(options: AddUserOptions): UaaUser {
    const user: UaaUser = {
      guid: options.guid ?? randomUUID(),
      username: options.username,
      password: options.password,
      email: options.email ?? options.username,
      origin: 'uaa',
      groups: [...new Set([...DEFAULT_USER_GROUPS, ...(options.scopes ?? [])])],
    };
    this.#users.set(user.username, user);
    return user;
  }

  client(id: string): UaaClient | undefined {
    return this.#clients.get(id);
  }

  user(username: string): UaaUser | undefined {
    return this.#users.get(username);
  }

  /** The user with this id (CC's user guid), for the name and origin CC shows with its users. */
  userById(guid: string): UaaUser | undefined {
    return [...this.#users.values()].find((user) => user.guid === guid);
  }

  /** The user a refresh token was issued to, if it is a valid, unexpired refresh token of this client. */
  refreshTokenOwner(refreshToken: string, client: UaaClient): UaaUser | null {
    const claims = verifyRs256(refreshToken, this.keys.verificationKeys())?.claims;
    if (!claims || !String(claims.jti).endsWith('-r') || claims.cid !== client.id || Number(claims.exp) <= Date.now() / 1000) return null;
    return [...this.#users.values()].find((user) => user.guid === claims.user_id) ?? null;
  }

  /** Changes how long this client's next access tokens live (tests of renewal use a few seconds). */
  setAccessTokenValidity(clientId: string, seconds: number): void {
    this.#mustGetClient(clientId).accessTokenValidity = seconds;
  }

  /** Issues a new signing key; returns its kid. Tokens signed with older keys still verify. */
  rotateKey(): string {
    return this.keys.rotate();
  }

  /** Drops an old key from `/token_keys`: tokens it signed stop verifying. */
  removeKey(kid: string): void {
    this.keys.remove(kid);
  }

  /** A client_credentials grant: the client's authorities, no refresh token. */
  clientCredentialsGrant(client: UaaClient, requested: readonly string[] | null): IssuedTokens | InvalidScope {
    const scopes = narrow(client.authorities, requested);
    if (scopes instanceof InvalidScope) return scopes;
    const claims = this.#accessClaims(client, null, 'client_credentials', scopes);
    return { accessToken: this.#sign(claims), refreshToken: null, claims };
  }

  /** A password grant: the client's scopes that the user's groups allow, plus a refresh token. */
  passwordGrant(client: UaaClient, user: UaaUser, requested: readonly string[] | null): IssuedTokens | InvalidScope {
    const scopes = narrow(client.scopes.filter((scope) => user.groups.includes(scope)), requested);
    if (scopes instanceof InvalidScope) return scopes;
    const claims = this.#accessClaims(client, user, 'password', scopes);
    const refresh: JwtClaims = {
      jti: `${String(claims.jti)}-r`,
      sub: user.guid,
      iat: claims.iat,
      exp: Number(claims.iat) + client.refreshTokenValidity,
      cid: client.id,
      client_id: client.id,
      iss: this.issuer,
      zid: 'uaa',
      aud: claims.aud,
      granted_scopes: scopes,
      // Real refresh tokens carry the scopes too, so only the `-r` jti tells them apart; CC checks exactly that.
      scope: scopes,
      amr: ['pwd'],
      auth_time: claims.iat,
      grant_type: 'password',
      user_name: user.username,
      origin: user.origin,
      user_id: user.guid,
      rev_sig: claims.rev_sig,
    };
    return { accessToken: this.#sign(claims), refreshToken: this.#sign(refresh), claims };
  }

  /**
   * Mints a token without going through `/oauth/token`, for tests of token defects: expired
   * (`claims: { exp: … }`), wrong audience, wrong issuer, refresh-token jti, unsigned, foreign key.
   */
  issueToken(options: IssueTokenOptions): string {
    const client = this.#mustGetClient(options.clientId);
    let claims: JwtClaims;
    if (options.username === undefined) {
      claims = this.#accessClaims(client, null, 'client_credentials', client.authorities);
    } else {
      const user = this.user(options.username);
      if (!user) throw new Error(`cf-simulator: no UAA user ${options.username}`);
      claims = this.#accessClaims(client, user, 'password', client.scopes.filter((scope) => user.groups.includes(scope)));
    }
    for (const [key, value] of Object.entries(options.claims ?? {})) {
      if (value === undefined) delete claims[key];
      else claims[key] = value;
    }
    switch (options.signing ?? 'active-key') {
      case 'none':
        return unsignedJwt(claims);
      case 'foreign-key':
        this.#foreignKey ??= generateSigningKey(this.keys.active.kid);
        return signJwt(this.#header(this.#foreignKey.kid), claims, this.#foreignKey.privateKey);
      case 'active-key':
        return this.#sign(claims);
    }
  }

  #accessClaims(client: UaaClient, user: UaaUser | null, grantType: GrantType, scopes: readonly string[]): JwtClaims {
    const iat = Math.floor(Date.now() / 1000);
    const claims: JwtClaims = {
      jti: randomUUID().replaceAll('-', ''),
      sub: user ? user.guid : client.id,
      scope: scopes,
      client_id: client.id,
      cid: client.id,
      azp: client.id,
      grant_type: grantType,
      rev_sig: randomBytes(4).toString('hex'),
      iat,
      exp: iat + client.accessTokenValidity,
      iss: this.issuer,
      zid: 'uaa',
      aud: audience(scopes, client.id),
    };
    if (user) Object.assign(claims, { user_id: user.guid, origin: user.origin, user_name: user.username, email: user.email, auth_time: iat });
    else claims.authorities = scopes;
    return claims;
  }

  #sign(claims: JwtClaims): string {
    const key = this.keys.active;
    return signJwt(this.#header(key.kid), claims, key.privateKey);
  }

  #header(kid: string) {
    return { alg: 'RS256', jku: `${this.url}/token_keys`, kid, typ: 'JWT' };
  }

  #mustGetClient(id: string): UaaClient {
    const client = this.#clients.get(id);
    if (!client) throw new Error(`cf-simulator: no UAA client ${id}`);
    return client;
  }
}

/** A requested scope the client or user may not have; UAA answers 400 invalid_scope. */
export class InvalidScope {
  readonly scopes: readonly string[];
  constructor(scopes: readonly string[]) {
    this.scopes = scopes;
  }
}

function narrow(allowed: readonly string[], requested: readonly string[] | null): readonly string[] | InvalidScope {
  if (requested === null) return allowed;
  const refused = requested.filter((scope) => !allowed.includes(scope));
  return refused.length > 0 ? new InvalidScope(refused) : requested;
}

/** `docs/UAA-Tokens.md`: the audience is each scope's prefix (up to the last dot) plus the client id. */
function audience(scopes: readonly string[], clientId: string): string[] {
  const prefixes = scopes.map((scope) => (scope.includes('.') ? scope.slice(0, scope.lastIndexOf('.')) : scope));
  return [...new Set([...prefixes, clientId])];
}
