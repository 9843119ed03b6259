/**
 * Wires authentication from its settings: with AUTH=uaa the token server (UAA logins, Cloud
 * Controller decisions, the registry's signing keys) and the token gate; with AUTH=none an open
 * gate. The admin guard checks UAA tokens whenever a UAA is known, whatever AUTH says.
 */
import type { Logger } from 'pino';
import { RegistryError } from '../errors/registry-error.ts';
import type { UpstreamMetrics } from '../metrics/upstream-metrics.ts';
import type { CapiClient } from '../sources/capi/capi-client.ts';
import type { UaaUrl } from '../sources/capi/uaa-url.ts';
import { createUpstreamHttp } from '../sources/capi/upstream-http.ts';
import type { AppRef, DropletSource } from '../sources/droplet-source.ts';
import { BoundedSlots } from '../util/bounded-slots.ts';
import { PerKeyLimit } from '../util/per-key-limit.ts';
import { AdminGuard } from './admin-guard.ts';
import { DecisionCache } from './decision-cache.ts';
import { DownloadPermission, type Decision } from './download-permission.ts';
import { DownloadRoles } from './download-roles.ts';
import { LoginThrottle } from './login-throttle.ts';
import { PasswordLoginMemo } from './password-login-memo.ts';
import { OPEN_GATE, TokenGate, type PullGate } from './pull-gate.ts';
import type { OriginSettings } from './registry-origin.ts';
import { RegistryTokens } from './registry-tokens.ts';
import { loadTokenKeys } from './signing-keys.ts';
import { TokenService } from './token-service.ts';
import { UaaPasswordGrant } from './uaa-password-grant.ts';
import { UaaTokenVerifier } from './uaa-token-verifier.ts';

/** Token requests that may wait for an upstream slot, per slot: a burst of pulls queues, a flood is refused. */
const UPSTREAM_QUEUE_PER_SLOT = 16;

export interface AuthSettings {
  readonly mode: 'uaa' | 'none';
  readonly origin: OriginSettings;
  readonly signingKeyFiles: readonly string[];
  readonly tokenTtlSeconds: number;
  readonly capiUrl: string;
  readonly capiCaCert: string;
  readonly uaaCaCert: string;
  /** Of each UAA and Cloud Controller call. */
  readonly timeoutMs: number;
  readonly loginClientId: string;
  readonly loginClientSecret: string;
  readonly decisionTtlMs: number;
  /** How long a verified password login is remembered (0: UAA is asked every time). */
  readonly passwordLoginTtlMs: number;
  /** How long past their time remembered logins and decisions stand in while UAA or Cloud Controller fail. */
  readonly staleIfErrorMs: number;
  /** false: global auditors pull only with a role of the app's space or org (read from `/v3/roles`). */
  readonly allowGlobalAuditors: boolean;
  readonly adminScope: string;
  readonly loginFailuresLimit: number;
  readonly loginFailuresWindowMs: number;
  /** Distinct repositories decided per token request. */
  readonly maxRepositoriesPerToken: number;
  /** Token requests of the instance asking Cloud Controller about repositories at once. */
  readonly upstreamConcurrency: number;
  /** Of those, at most this many (deciding or waiting) from one client address. */
  readonly tokenRequestsPerClient: number;
}

export interface AuthDependencies {
  /** UAA's URL (configured or discovered); none without the capi source and UAA_URL. */
  readonly uaaUrl: UaaUrl | undefined;
  readonly source: DropletSource;
  /** Cloud Controller with the registry's token (the capi source); excluding global auditors needs it. */
  readonly capi?: Pick<CapiClient, 'list'>;
  /** The app behind a repository name (NAME_UNKNOWN/NAME_INVALID when there is none). */
  readonly findApp: (name: string) => Promise<AppRef>;
  readonly logger: Logger;
  /** Times the UAA and Cloud Controller calls of logins and pull decisions. */
  readonly metrics?: UpstreamMetrics;
  /** Told of each decision or login served from before because Cloud Controller or UAA failed. */
  readonly onStaleAnswer?: (answer: 'decision' | 'login') => void;
}

export interface Auth {
  readonly origin: OriginSettings;
  readonly gate: PullGate;
  /** The token server; none with AUTH=none (no client is ever sent to it). */
  readonly tokens: TokenService | undefined;
  readonly admin: AdminGuard;
}

export async function createAuth(settings: AuthSettings, deps: AuthDependencies): Promise<Auth> {
  const { uaaUrl, logger } = deps;
  const uaaHttp = createUpstreamHttp({ timeoutMs: settings.timeoutMs, caFile: settings.uaaCaCert });
  deps.metrics?.instrument(uaaHttp, 'uaa');
  const verifier = uaaUrl ? new UaaTokenVerifier({ uaaUrl, http: uaaHttp, logger }) : undefined;
  const admin = new AdminGuard({ verifier, scope: settings.adminScope });
  if (settings.mode === 'none') return { origin: settings.origin, gate: OPEN_GATE, tokens: undefined, admin };
  if (!uaaUrl || !verifier) throw new Error('AUTH=uaa needs UAA: the capi source or UAA_URL');
  if (!settings.allowGlobalAuditors && !deps.capi) throw new Error('AUTH_ALLOW_GLOBAL_AUDITORS=false needs the capi source: the roles of global auditors are read from Cloud Controller');
  const tokens = new RegistryTokens({ keys: await loadTokenKeys(settings.signingKeyFiles), ttlSeconds: settings.tokenTtlSeconds });
  const capiHttp = createUpstreamHttp({ timeoutMs: settings.timeoutMs, caFile: settings.capiCaCert });
  deps.metrics?.instrument(capiHttp, 'capi');
  const permission = new DownloadPermission({
    capiUrl: settings.capiUrl,
    http: capiHttp,
    source: deps.source,
    findApp: deps.findApp,
    decisions: new DecisionCache<Decision>({ ttlMs: settings.decisionTtlMs, staleIfErrorMs: settings.staleIfErrorMs }),
    onStaleDecision: () => deps.onStaleAnswer?.('decision'),
    ...(settings.allowGlobalAuditors || !deps.capi ? {} : { globalAuditorRoles: new DownloadRoles(deps.capi) }),
    logger,
  });
  const tokenService = new TokenService({
    tokens,
    verifier,
    passwordGrant: new UaaPasswordGrant({ uaaUrl, clientId: settings.loginClientId, clientSecret: settings.loginClientSecret, http: uaaHttp, logger }),
    passwordLogins: new PasswordLoginMemo({ ttlMs: settings.passwordLoginTtlMs, staleIfErrorMs: settings.staleIfErrorMs }),
    onStaleLogin: () => deps.onStaleAnswer?.('login'),
    permission,
    throttle: new LoginThrottle({ limit: settings.loginFailuresLimit, windowMs: settings.loginFailuresWindowMs }),
    maxRepositories: settings.maxRepositoriesPerToken,
    upstream: new BoundedSlots({
      concurrency: settings.upstreamConcurrency,
      queue: settings.upstreamConcurrency * UPSTREAM_QUEUE_PER_SLOT,
      refusal: () => new RegistryError('TOOMANYREQUESTS', 'the registry is asking Cloud Controller about too many pulls right now; try again shortly', { retryAfter: 1 }),
    }),
    perClient: new PerKeyLimit(settings.tokenRequestsPerClient),
    logger,
  });
  return { origin: settings.origin, gate: new TokenGate(tokens), tokens: tokenService, admin };
}
