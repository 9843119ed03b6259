/**
 * May this user pull this app? Exactly when Cloud Controller would let them download its droplet
 * (reference §1.10): asked as the user, `GET /v3/droplets/:guid/download` without following the
 * redirect. A plain "can see the app" check is not enough: space supporters see apps but may not
 * download them. The name is resolved with the registry's own token; the question is the user's.
 *
 * Global auditors may download every droplet (the `cloud_controller.global_auditor` scope alone
 * grants it), so CC's answer cannot exclude them; operators who do (AUTH_ALLOW_GLOBAL_AUDITORS=false)
 * get a role check first: a global auditor without admin scopes pulls only while holding a role in
 * the app's space or org that may download (`DownloadRoles`), and is refused 403 DENIED otherwise —
 * they can see every app anyway, so hiding that it exists would protect nothing.
 */
import { isAxiosError, type AxiosInstance } from 'axios';
import type { Logger } from 'pino';
import type { Readable } from 'node:stream';
import { RegistryError } from '../errors/registry-error.ts';
import { retryAfterSeconds, unavailable } from '../sources/capi/upstream-errors.ts';
import type { AppRef, DropletSource } from '../sources/droplet-source.ts';
import { SingleFlight } from '../util/single-flight.ts';
import type { DecisionCache } from './decision-cache.ts';
import type { DownloadRoles } from './download-roles.ts';
import type { Refusal } from './registry-tokens.ts';
import { badCredentials, type UaaIdentity } from './uaa-identity.ts';

export type Decision = 'granted' | Refusal;

/** A decision about a repository name, with the app it was decided for (none when no app is behind the name). */
export interface RepositoryDecision {
  readonly decision: Decision;
  readonly appGuid?: string;
}

export interface DownloadPermissionOptions {
  readonly capiUrl: string;
  /** For Cloud Controller (its CA, timeouts); given the user's token, never the registry's. */
  readonly http: AxiosInstance;
  /** Reads droplets with the registry's token (which droplet to ask about). */
  readonly source: DropletSource;
  /** The app behind a repository name; NAME_UNKNOWN (or NAME_INVALID) when there is none. */
  readonly findApp: (name: string) => Promise<AppRef>;
  /** Decisions by user and app. */
  readonly decisions: DecisionCache<Decision>;
  /** Told of each decision served from before because Cloud Controller failed. */
  readonly onStaleDecision?: () => void;
  /** Set when global auditors are excluded: where their roles are looked up. */
  readonly globalAuditorRoles?: DownloadRoles;
  readonly logger: Logger;
}

const GLOBAL_AUDITOR = 'cloud_controller.global_auditor';
const ADMIN_SCOPES = ['cloud_controller.admin', 'cloud_controller.admin_read_only'];

/**
 * What Cloud Controller's answers mean. Download: 302 (or 200 with CC's `local` blobstore) and
 * 422 (a docker or unstaged droplet: CC checks permissions first) allow; 403 forbids; 404 means
 * the user may not even see the space.
 */
const DOWNLOAD_ANSWERS: Readonly<Record<number, Decision>> = { 200: 'granted', 302: 'granted', 422: 'granted', 403: 'forbidden', 404: 'not_found' };

export class DownloadPermission {
  readonly #options: DownloadPermissionOptions;
  readonly #asking = new SingleFlight<Decision>();

  constructor(options: DownloadPermissionOptions) {
    this.#options = options;
  }

  /** What Cloud Controller says of the user and the app behind `name` now; a grant is bound to that app's guid. */
  async decide(identity: UaaIdentity, name: string): Promise<RepositoryDecision> {
    let app: AppRef;
    try {
      app = await this.#options.findApp(name);
    } catch (error) {
      if (!(error instanceof RegistryError && (error.code === 'NAME_UNKNOWN' || error.code === 'NAME_INVALID'))) throw error;
      // The user learns only "not found"; operators learn when it is a name two orgs (spaces, apps) share.
      if ((error.detail as { reason?: unknown } | undefined)?.reason === 'ambiguous') {
        this.#options.logger.warn({ event: 'name.ambiguous', user: identity.userName, name }, error.message);
      }
      return { decision: 'not_found' };
    }
    return { decision: await this.#decideForApp(identity, name, app), appGuid: app.guid };
  }

  /** Decisions are kept by user and app guid, never by name: a name may point at another app tomorrow. */
  async #decideForApp(identity: UaaIdentity, name: string, app: AppRef): Promise<Decision> {
    const key = `${identity.userId} ${app.guid}`;
    const known = this.#options.decisions.get(key);
    if (known) return known;
    try {
      // A fleet's token requests for one user and app arrive together: one of them asks.
      return await this.#asking.run(key, () => this.#askCloudController(identity, name, app));
    } catch (error) {
      // Cloud Controller failing (5xx, timeouts, 429): the decision it gave a moment ago stands in.
      const stale = error instanceof RegistryError && error.code === 'UNAVAILABLE' ? this.#options.decisions.getStale(key) : undefined;
      if (stale === undefined) throw error;
      this.#options.onStaleDecision?.();
      this.#options.logger.warn(
        { event: 'auth.stale_decision', user: identity.userName, app: app.guid, name, decision: stale, err: error },
        `Cloud Controller failed (${(error as Error).message}); ${identity.userName} → ${name}: ${stale}, as it decided before`,
      );
      return stale;
    }
  }

  async #askCloudController(identity: UaaIdentity, name: string, app: AppRef): Promise<Decision> {
    const roles = this.#options.globalAuditorRoles;
    if (roles && isGlobalAuditorOnly(identity) && !(await roles.holdsDownloadRole(identity.userId, app))) {
      return this.#decided(identity, name, app, 'forbidden', 'global auditors are excluded (AUTH_ALLOW_GLOBAL_AUDITORS=false)');
    }
    const droplet = await this.#someDroplet(app);
    // Nothing to pull, and nothing to grant: a grant is bound to the app, so one made now would
    // reach the droplet its first staging produces, for whoever could merely see the app (a space
    // supporter). The answer is not kept: once the app has a droplet, its download is asked about.
    if (!droplet) return this.#logged(identity, name, app, 'not_found', 'the app has no droplet yet');
    return this.#decided(identity, name, app, await this.#askDownload(identity, droplet));
  }

  /** Keeps the decision for the user and app, and logs it. */
  #decided(identity: UaaIdentity, name: string, app: AppRef, decision: Decision, reason?: string): Decision {
    this.#options.decisions.set(`${identity.userId} ${app.guid}`, decision);
    return this.#logged(identity, name, app, decision, reason);
  }

  #logged(identity: UaaIdentity, name: string, app: AppRef, decision: Decision, reason?: string): Decision {
    this.#options.logger.info(
      { event: 'auth.decision', user: identity.userName, userId: identity.userId, app: app.guid, name, decision, ...(reason ? { reason } : {}) },
      `${identity.userName} → ${name}: ${decision}${reason ? ` (${reason})` : ''}`,
    );
    return decision;
  }

  /** The app's current droplet, else one of its staged ones. */
  async #someDroplet(app: AppRef): Promise<string | undefined> {
    try {
      return (await this.#options.source.currentDroplet(app)).guid;
    } catch (error) {
      if (!(error instanceof RegistryError && error.code === 'MANIFEST_UNKNOWN')) throw error;
    }
    return (await this.#options.source.listStagedDroplets(app))[0]?.guid;
  }

  /** Cloud Controller's answer to the user's download of the droplet; the body (a droplet, with a `local` blobstore) is never read. */
  async #askDownload(identity: UaaIdentity, droplet: string): Promise<Decision> {
    const path = `/v3/droplets/${droplet}/download`;
    const answers = DOWNLOAD_ANSWERS;
    const { capiUrl, http, logger } = this.#options;
    try {
      const response = await http.get<Readable>(`${capiUrl.replace(/\/$/, '')}${path}`, {
        headers: { authorization: `bearer ${identity.accessToken}`, accept: 'application/json' },
        maxRedirects: 0,
        responseType: 'stream',
        validateStatus: (status) => answers[status] !== undefined,
      });
      response.data.destroy();
      return answers[response.status] as Decision;
    } catch (error) {
      // Only the status is looked at: the request config holds the user's token.
      const response = isAxiosError(error) ? error.response : undefined;
      (response?.data as Readable | undefined)?.destroy?.();
      if (response?.status === 401) throw badCredentials("Cloud Controller refused the user's UAA token");
      if (response?.status === 429) {
        // The user's own rate limit (this call is made with their token): theirs to wait for, never
        // a Cloud Controller outage a decision from before may stand in for.
        const retryAfter = retryAfterSeconds(response.headers['retry-after'] ?? response.headers['x-ratelimit-reset']);
        throw new RegistryError('TOOMANYREQUESTS', `Cloud Controller is rate-limiting ${identity.userName}'s requests; try again in ${retryAfter} s`, { retryAfter });
      }
      throw unavailable('Cloud Controller', `GET ${path.replace(/[0-9a-f-]{36}/g, ':guid')} as the user`, error, logger);
    }
  }
}

/** A global auditor whose token does not also carry admin or admin_read_only (which stay allowed). */
function isGlobalAuditorOnly(identity: UaaIdentity): boolean {
  return identity.scopes.includes(GLOBAL_AUDITOR) && !ADMIN_SCOPES.some((scope) => identity.scopes.includes(scope));
}
