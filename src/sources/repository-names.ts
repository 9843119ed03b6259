/**
 * How Cloud Foundry names map onto OCI repository name components.
 *
 * CF org, space and app names may hold upper case, spaces and other characters the OCI name
 * grammar forbids (`[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`). A CF name is reachable under its
 * *repository form*: lower-cased, every run of other characters replaced by one `-`, leading and
 * trailing separators removed, accents dropped. `My App (v2)` → `my-app-v2`, `Café` → `cafe`.
 * A name equal to the requested component wins; otherwise several names with the same form in
 * one space (or org) are ambiguous, and none of them is reachable by name.
 */

const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;

/** The repository form of a CF name, or `null` if nothing of it survives (e.g. `!!!`). */
export function toRepositoryComponent(cfName: string): string | null {
  const form = cfName
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '') // é → e
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    // Runs of separators the grammar does not allow (`.-`, `..`, `___`) become one `-`.
    .replace(/[._-]{2,}/g, (run) => (/^(?:__|-+)$/.test(run) ? run : '-'))
    .replace(/^[._-]+|[._-]+$/g, '');
  return COMPONENT.test(form) ? form : null;
}

/**
 * The item named exactly `component`, else the one item whose name has that repository form;
 * `undefined` when none does or the form is ambiguous.
 */
export function pickByRepositoryComponent<T>(items: readonly T[], nameOf: (item: T) => string, component: string): T | undefined {
  const exact = items.find((item) => nameOf(item) === component);
  if (exact !== undefined) return exact;
  const matches = items.filter((item) => toRepositoryComponent(nameOf(item)) === component);
  return matches.length === 1 ? matches[0] : undefined;
}
