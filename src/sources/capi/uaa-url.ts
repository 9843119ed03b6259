/**
 * Where UAA is: the configured URL, else the `uaa` link of Cloud Controller's root document,
 * fetched once and shared by everyone who talks to UAA (the service token, user logins, token
 * verification). A failed discovery is forgotten, so the next call tries again.
 */
import type { AxiosInstance } from 'axios';
import type { Logger } from 'pino';
import { unavailable } from './upstream-errors.ts';

/** Resolves UAA's base URL. */
export type UaaUrl = () => Promise<string>;

export function uaaUrlResolver(settings: { readonly uaaUrl: string; readonly capiUrl: string }, capiHttp: AxiosInstance, logger: Logger): UaaUrl {
  if (settings.uaaUrl) {
    const configured = Promise.resolve(settings.uaaUrl);
    return () => configured;
  }
  let discovered: Promise<string> | undefined;
  return () => {
    discovered ??= capiHttp.get(`${settings.capiUrl.replace(/\/$/, '')}/`).then(
      (response) => {
        const href = (response.data as { links?: { uaa?: { href?: string } | null } }).links?.uaa?.href;
        if (!href) throw new Error("Cloud Controller's root document has no uaa link; set UAA_URL");
        return href;
      },
      (error: unknown) => {
        discovered = undefined; // try again on the next call
        throw unavailable('Cloud Controller', 'GET / (UAA discovery)', error, logger);
      },
    );
    return discovered;
  };
}
