/**
 * Query-string parsing and validation the way CC's list messages do it (`list_message.rb`,
 * `base_message.rb`, `events_list_message.rb`): Rack's `key[op]=value` nesting, comma-separated
 * lists, `page`/`per_page`/`order_by` rules, `include`, whole-second timestamp filters, and one 400
 * CF-BadQueryParameter (or the endpoint's own error) listing every problem.
 */
import { badQueryParameter } from './errors.ts';

/** What one endpoint accepts. */
export interface QuerySpec {
  /** Comma-separated filters, e.g. `names`, `guids`. */
  readonly lists?: readonly string[];
  /** Single-valued parameters, e.g. `current`, `lifecycle_type`. */
  readonly scalars?: readonly string[];
  /** Relational timestamp filters (`created_ats[gte]=…`) or exact lists. */
  readonly timestamps?: readonly string[];
  readonly include?: readonly string[];
  /** Columns `order_by` accepts (with an optional `+`/`-`); presence makes the endpoint a paginated list. */
  readonly orderBy?: readonly string[];
  /**
   * The error for invalid parameters: most controllers' `invalid_param!` (400 CF-BadQueryParameter,
   * the default); some, such as roles, call `unprocessable!` (422) instead.
   */
  readonly invalid?: (messages: readonly string[]) => Error;
}

export type RelationalOperator = 'lt' | 'lte' | 'gt' | 'gte';

/** One timestamp condition; `eq` is the plain `created_ats=a,b` form. */
export interface TimestampCondition {
  readonly operator: RelationalOperator | 'eq';
  readonly at: Date;
}

export interface ParsedQuery {
  readonly page: number;
  readonly perPage: number;
  readonly orderBy: { readonly column: string; readonly descending: boolean } | null;
  readonly include: readonly string[];
  /** The values of a list filter, or null when it was not given. */
  list(key: string): readonly string[] | null;
  scalar(key: string): string | null;
  timestamps(key: string): readonly TimestampCondition[];
  /**
   * The requested parameters as CC's `to_param_hash` renders them for pagination hrefs (everything
   * but `page` and `per_page`), as `[key, value]` pairs before escaping.
   */
  readonly hrefParams: ReadonlyArray<readonly [string, string]>;
}

const PAGINATION_KEYS = ['page', 'per_page', 'order_by'];
const OPERATORS: readonly string[] = ['lt', 'lte', 'gt', 'gte'];
const WHOLE_SECOND = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const DEFAULT_PER_PAGE = 50;
const MAX_PER_PAGE = 5000;

/** Parses and validates; throws 400 CF-BadQueryParameter (or `spec.invalid`'s error) with all problems found. */
export function parseQuery(search: URLSearchParams, spec: QuerySpec): ParsedQuery {
  const paginated = spec.orderBy !== undefined;
  const allowed = [...(paginated ? PAGINATION_KEYS : []), ...(spec.lists ?? []), ...(spec.scalars ?? []), ...(spec.timestamps ?? []), ...(spec.include ? ['include'] : [])];
  // Rack: `k[op]=v` nests, the last of repeated keys wins, keys keep their first position.
  const plain = new Map<string, string>();
  const nested = new Map<string, Map<string, string>>();
  for (const [rawKey, value] of search) {
    const match = /^([^[\]]+)\[([^\]]*)\]$/.exec(rawKey);
    if (match) {
      const key = match[1] ?? '';
      plain.delete(key);
      const operators = nested.get(key) ?? new Map<string, string>();
      operators.set(match[2] ?? '', value);
      nested.set(key, operators);
    } else {
      nested.delete(rawKey);
      plain.set(rawKey, value);
    }
  }
  const requested = [...new Set([...plain.keys(), ...nested.keys()])];
  const errors: string[] = [];
  const unknown = requested.filter((key) => !allowed.includes(key));
  if (unknown.length > 0) {
    errors.push(`Unknown query parameter(s): '${unknown.join("', '")}'. Valid parameters are: '${allowed.join("', '")}'`);
  }
  for (const key of nested.keys()) {
    if (allowed.includes(key) && !(spec.timestamps ?? []).includes(key)) errors.push(`${humanize(key)} must be ${(spec.lists ?? []).includes(key) ? 'an array' : 'a string'}`);
  }

  const page = positiveInteger(plain.get('page'), 'Page', errors) ?? 1;
  const perPage = positiveInteger(plain.get('per_page'), 'Per page', errors) ?? DEFAULT_PER_PAGE;
  if (perPage > MAX_PER_PAGE) errors.push(`Per page must be between 1 and ${MAX_PER_PAGE}`);

  let orderBy: ParsedQuery['orderBy'] = null;
  const orderByValue = plain.get('order_by');
  if (paginated && orderByValue !== undefined && orderByValue !== '') {
    const match = /^([+-]?)(.*)$/.exec(orderByValue);
    const column = match?.[2] ?? '';
    if (spec.orderBy?.includes(column)) orderBy = { column, descending: match?.[1] === '-' };
    else errors.push(`Order by can only be: ${(spec.orderBy ?? []).map((value) => `'${value}'`).join(', ')}`);
  }

  const include = plain.has('include') ? splitList(plain.get('include') ?? '') : [];
  for (const candidate of include) {
    if (!(spec.include ?? []).includes(candidate)) {
      errors.push(`Invalid included resource: '${candidate}'. Valid included resources are: '${(spec.include ?? []).join("', '")}'`);
    }
  }

  const timestamps = new Map<string, TimestampCondition[]>();
  for (const key of spec.timestamps ?? []) {
    const conditions = parseTimestamps(key, plain.get(key), nested.get(key), errors);
    if (conditions) timestamps.set(key, conditions);
  }

  if (errors.length > 0) throw (spec.invalid ?? badQueryParameter)(errors);

  const hrefParams: Array<readonly [string, string]> = [];
  for (const key of requested) {
    if (key === 'page' || key === 'per_page') continue;
    const operators = nested.get(key);
    if (operators) for (const [operator, value] of operators) hrefParams.push([`${key}[${operator}]`, value]);
    else hrefParams.push([key, plain.get(key) ?? '']);
  }

  return {
    page,
    perPage,
    orderBy,
    include,
    list: (key) => (plain.has(key) && (spec.lists ?? []).includes(key) ? splitList(plain.get(key) ?? '') : null),
    scalar: (key) => plain.get(key) ?? null,
    timestamps: (key) => timestamps.get(key) ?? [],
    hrefParams,
  };
}

/** Whether `at` satisfies every condition (conditions on one key are ANDed; `eq` values are ORed). */
export function matchesTimestamps(at: Date, conditions: readonly TimestampCondition[]): boolean {
  const equal = conditions.filter((condition) => condition.operator === 'eq');
  if (equal.length > 0 && !equal.some((condition) => condition.at.getTime() === at.getTime())) return false;
  return conditions.every((condition) => {
    const difference = at.getTime() - condition.at.getTime();
    switch (condition.operator) {
      case 'eq':
        return true;
      case 'lt':
        return difference < 0;
      case 'lte':
        return difference <= 0;
      case 'gt':
        return difference > 0;
      case 'gte':
        return difference >= 0;
    }
  });
}

function parseTimestamps(key: string, plainValue: string | undefined, operators: Map<string, string> | undefined, errors: string[]): TimestampCondition[] | null {
  const label = humanize(key);
  const formatError = `${label} has an invalid timestamp format. Timestamps should be formatted as 'YYYY-MM-DDThh:mm:ssZ'`;
  if (plainValue !== undefined) {
    const values = splitList(plainValue);
    const bad = values.some((value) => !WHOLE_SECOND.test(value));
    if (bad) errors.push(formatError);
    return bad ? null : values.map((value) => ({ operator: 'eq', at: new Date(value) }));
  }
  if (!operators) return null;
  const conditions: TimestampCondition[] = [];
  for (const [operator, value] of operators) {
    if (!OPERATORS.includes(operator)) errors.push(`${label} Invalid relational operator: '${operator}'`);
    if (value.includes(',')) {
      errors.push(`${label} only accepts one value when using a relational operator`);
      continue;
    }
    if (!WHOLE_SECOND.test(value)) errors.push(formatError);
    else if (OPERATORS.includes(operator)) conditions.push({ operator: operator as RelationalOperator, at: new Date(value) });
  }
  return conditions;
}

/** `to_array!`: split on commas, CGI-unescape each part. */
function splitList(value: string): string[] {
  return value.split(',').map((part) => {
    try {
      return decodeURIComponent(part.replace(/\+/g, ' '));
    } catch {
      return part;
    }
  });
}

/** Ruby's `to_i > 0` check: leading digits count, anything else is 0. */
function positiveInteger(value: string | undefined, label: string, errors: string[]): number | null {
  if (value === undefined) return null;
  const number = Number.parseInt(value, 10);
  if (Number.isNaN(number) || number <= 0) {
    errors.push(`${label} must be a positive integer`);
    return null;
  }
  return number;
}

/** ActiveModel's attribute humanising: `created_ats` → `Created ats`. */
function humanize(key: string): string {
  const words = key.replace(/_/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}
