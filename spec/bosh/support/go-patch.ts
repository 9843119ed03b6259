/**
 * Enough of go-patch (github.com/cppforlife/go-patch, what `bosh -o` applies) to apply ops-files
 * to a manifest in tests: `replace` and `remove` on paths made of `/key`, `/key?`, `/0`, `/-`,
 * `/name=value` and `/name=value?`, with `~1`/`~0` escapes. As in go-patch, a `?` makes its token
 * and every later one optional: a missing key or array item is created by `replace` and skipped by
 * `remove`; without it a missing one is an error naming the path.
 */

export type Yaml = null | boolean | number | string | Yaml[] | { [key: string]: Yaml };

export interface PatchOperation {
  type: 'replace' | 'remove';
  path: string;
  value?: Yaml;
}

type Token =
  | { kind: 'key'; key: string; optional: boolean }
  | { kind: 'index'; index: number }
  | { kind: 'after-last' }
  | { kind: 'match'; key: string; value: string; optional: boolean };

/** Why an ops-file is not go-patch: thrown by `checkOperation`, `parsePath` and `applyOperations`. */
export class PatchError extends Error {}

/** Checks the shape of one operation: type replace|remove, a path, a value exactly for replace. */
export function checkOperation(operation: unknown, where: string): PatchOperation {
  if (typeof operation !== 'object' || operation === null || Array.isArray(operation)) throw new PatchError(`${where}: an operation must be a map`);
  const op = operation as Record<string, unknown>;
  const unknown = Object.keys(op).filter((key) => !['type', 'path', 'value', 'error'].includes(key));
  if (unknown.length > 0) throw new PatchError(`${where}: unknown keys ${unknown.join(', ')}`);
  if (op.type !== 'replace' && op.type !== 'remove') throw new PatchError(`${where}: type must be replace or remove, not ${JSON.stringify(op.type)}`);
  if (typeof op.path !== 'string') throw new PatchError(`${where}: path must be a string`);
  parsePath(op.path);
  if (op.type === 'replace' && !('value' in op)) throw new PatchError(`${where}: a replace needs a value`);
  if (op.type === 'remove' && 'value' in op) throw new PatchError(`${where}: a remove takes no value`);
  return op as unknown as PatchOperation;
}

/** Splits a go-patch path into tokens; the first `?` makes the rest optional. */
export function parsePath(path: string): Token[] {
  if (!path.startsWith('/')) throw new PatchError(`path ${JSON.stringify(path)} must start with /`);
  if (path === '/') return [];
  let optional = false;
  return path
    .slice(1)
    .split('/')
    .map((raw, position, all) => {
      const text = raw.replaceAll('~1', '/').replaceAll('~0', '~');
      if (text === '') throw new PatchError(`path ${path}: empty token`);
      if (text === '-') {
        if (position !== all.length - 1) throw new PatchError(`path ${path}: "-" (after the last item) must be the last token`);
        return { kind: 'after-last' } as const;
      }
      if (/^\d+$/.test(text)) return { kind: 'index', index: Number(text) } as const;
      const marked = text.endsWith('?');
      optional ||= marked;
      const body = marked ? text.slice(0, -1) : text;
      const eq = body.indexOf('=');
      if (eq > 0) return { kind: 'match', key: body.slice(0, eq), value: body.slice(eq + 1), optional } as const;
      return { kind: 'key', key: body, optional } as const;
    });
}

/** Applies operations in order to a copy of `document`. */
export function applyOperations(document: Yaml, operations: readonly PatchOperation[]): Yaml {
  let result = structuredClone(document);
  for (const operation of operations) {
    result = operation.type === 'replace' ? replace(result, operation.path, structuredClone(operation.value ?? null)) : remove(result, operation.path);
  }
  return result;
}

/** The value at `path`, or undefined when some token does not resolve. */
export function find(document: Yaml, path: string): Yaml | undefined {
  let node: Yaml | undefined = document;
  for (const token of parsePath(path)) {
    if (node === undefined) return undefined;
    const step = locate(node, token);
    if (step === undefined || step.index === undefined) return undefined;
    node = step.container[step.index as never] as Yaml;
  }
  return node;
}

type Step = { container: Yaml[] | Record<string, Yaml>; index: number | string | undefined };

/** Where `token` points inside `node`: the container and the index/key (undefined when missing). */
function locate(node: Yaml, token: Token): Step | undefined {
  if (token.kind === 'key') {
    if (!isMap(node)) return undefined;
    return { container: node, index: token.key in node ? token.key : undefined };
  }
  if (!Array.isArray(node)) return undefined;
  if (token.kind === 'after-last') return { container: node, index: undefined };
  if (token.kind === 'index') return { container: node, index: token.index < node.length ? token.index : undefined };
  const matches = node.flatMap((item, index) => (isMap(item) && String(item[token.key]) === token.value ? [index] : []));
  if (matches.length > 1) throw new PatchError(`expected to find exactly one array item with ${token.key}=${token.value} but found ${matches.length}`);
  return { container: node, index: matches[0] };
}

function replace(document: Yaml, path: string, value: Yaml): Yaml {
  const tokens = parsePath(path);
  if (tokens.length === 0) return value;
  let node = document;
  for (const [position, token] of tokens.entries()) {
    const last = position === tokens.length - 1;
    const here = describe(tokens.slice(0, position + 1));
    const step = locate(node, token);
    if (step === undefined) throw new PatchError(`${path}: expected ${token.kind === 'key' ? 'a map' : 'an array'} at ${describe(tokens.slice(0, position)) || '/'}`);
    const container = step.container as Record<string | number, Yaml>;
    if (step.index !== undefined) {
      if (last) {
        container[step.index] = value;
        return document;
      }
      node = container[step.index] as Yaml;
      continue;
    }
    if (token.kind === 'index') throw new PatchError(`${path}: index out of range at ${here}`);
    if (token.kind === 'after-last') {
      (step.container as Yaml[]).push(value);
      return document;
    }
    if (!token.optional) {
      throw new PatchError(`${path}: expected to find ${token.kind === 'key' ? `a map key '${token.key}'` : `an array item with ${token.key}=${token.value}`} at ${here}`);
    }
    // Optional and missing: create it (the value itself when last), then go on into it.
    const next = tokens[position + 1];
    const created: Yaml = last ? value : token.kind === 'match' ? { [token.key]: token.value } : next?.kind === 'key' ? {} : [];
    if (token.kind === 'match') (step.container as Yaml[]).push(created);
    else container[token.key] = created;
    if (last) return document;
    node = created;
  }
  return document;
}

function remove(document: Yaml, path: string): Yaml {
  const tokens = parsePath(path);
  if (tokens.length === 0) throw new PatchError('cannot remove the whole document');
  let node: Yaml = document;
  for (const [position, token] of tokens.entries()) {
    const here = describe(tokens.slice(0, position + 1));
    const optional = (token.kind === 'key' || token.kind === 'match') && token.optional;
    if (token.kind === 'after-last') throw new PatchError(`${path}: cannot remove "-"`);
    const step = locate(node, token);
    if (step === undefined || step.index === undefined) {
      if (optional) return document;
      throw new PatchError(`${path}: expected to find ${here}`);
    }
    if (position === tokens.length - 1) {
      if (Array.isArray(step.container)) step.container.splice(step.index as number, 1);
      else delete step.container[step.index as string];
      return document;
    }
    node = (step.container as Record<string | number, Yaml>)[step.index] as Yaml;
  }
  return document;
}

function describe(tokens: readonly Token[]): string {
  return tokens
    .map((token) => {
      switch (token.kind) {
        case 'key':
          return `/${token.key}${token.optional ? '?' : ''}`;
        case 'index':
          return `/${token.index}`;
        case 'after-last':
          return '/-';
        case 'match':
          return `/${token.key}=${token.value}${token.optional ? '?' : ''}`;
      }
    })
    .join('');
}

function isMap(value: Yaml | undefined): value is Record<string, Yaml> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
