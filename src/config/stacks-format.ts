/**
 * The `STACKS` and `STACK_FOUNDATIONS` settings: a path per Cloud Foundry stack, written
 * `cflinuxfs4=/path/cflinuxfs4.tar.gz,cflinuxfs3=/path/…` in the environment or as an object in
 * a config file. STACKS names each stack's tarball (the stack layer), STACK_FOUNDATIONS the stack
 * as the foundation customized it (the foundation layer is what that holds on top).
 */

/** Stack name → a file of that stack. */
export type StackRootfsMap = Record<string, string>;

/** What a stack may be called. */
export const STACK_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** More stacks than any foundation runs: a bound on what a setting may list. */
const MAX_STACKS = 64;

/** Parses the env form; an object (config file form) is checked and returned as is. */
export function parseStacks(value: unknown): StackRootfsMap {
  if (value === '' || value === undefined || value === null) return {};
  const entries: Array<[string, unknown]> =
    typeof value === 'string'
      ? value.split(',').map((pair) => {
          const at = pair.indexOf('=');
          if (at < 0) throw new Error(`"${pair.trim()}" is not of the form <stack>=<path>, e.g. cflinuxfs4=/var/vcap/packages/cflinuxfs4/cflinuxfs4.tar.gz`);
          return [pair.slice(0, at).trim(), pair.slice(at + 1).trim()];
        })
      : typeof value === 'object' && !Array.isArray(value)
        ? Object.entries(value)
        : (() => {
            throw new Error('must be "<stack>=<path>,…" or an object of stack names to paths');
          })();
  if (entries.length > MAX_STACKS) throw new Error(`names ${entries.length} stacks; at most ${MAX_STACKS}`);
  const stacks: StackRootfsMap = {};
  for (const [name, path] of entries) {
    if (!STACK_NAME.test(name)) throw new Error(`"${name}" is not a valid stack name`);
    if (typeof path !== 'string' || path === '') throw new Error(`stack ${name} needs the path of its file`);
    if (name in stacks) throw new Error(`stack ${name} is given twice`);
    stacks[name] = path;
  }
  return stacks;
}
