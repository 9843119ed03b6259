/**
 * The `scope` parameters of a token request (distribution's `resourcetype:resourcename:actions`;
 * docker repeats the parameter, containerd joins scopes with spaces). Only pulls happen here, so
 * `push` and `*` are asked for as `pull` — the token never grants more.
 *
 * Each name costs Cloud Controller calls to decide, so a request is decided for its first `max`
 * distinct names only; the rest are neither granted nor refused (a client asks again for them),
 * and names no repository can have (over distribution's 255 characters) are dropped unread.
 */

/** distribution's limit on a repository name. */
const MAX_NAME_LENGTH = 255;

/** Repository names the request asks to pull (or push, or `*`), each once, in order, at most `max` of them. */
export function requestedRepositories(scopes: readonly string[], max = Infinity): string[] {
  const names = new Set<string>();
  for (const scope of scopes.flatMap((value) => value.split(/\s+/)).filter(Boolean)) {
    if (names.size >= max) break;
    const first = scope.indexOf(':');
    const last = scope.lastIndexOf(':');
    // The name itself may hold a colon (a registry host with a port), so split at the first and last.
    if (first < 0 || last === first) continue;
    const type = scope.slice(0, first);
    const name = scope.slice(first + 1, last);
    const actions = scope.slice(last + 1).split(',');
    if (type !== 'repository' || name === '' || name.length > MAX_NAME_LENGTH) continue;
    if (actions.some((action) => action === 'pull' || action === 'push' || action === '*')) names.add(name);
  }
  return [...names];
}
