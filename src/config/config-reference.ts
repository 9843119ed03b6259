/**
 * The configuration reference (docs/configuration.md), written from the one schema so the two can
 * never disagree: every key with its environment variable, default, accepted values and doc.
 * `npm run docs:config` writes it; a unit test fails when the committed file is out of date.
 */
import { configSchema, type FormatName, type SchemaEntry } from './schema.ts';

/** What each format accepts, in words (the type system makes sure every format of the schema has them). */
const FORMAT_WORDS: Readonly<Record<FormatName, string>> = {
  port: 'a TCP port (0-65535)',
  nat: 'a whole number ≥ 0',
  boolean: '`true` or `false`',
  'positive-int': 'a whole number ≥ 1',
  'optional-url': 'an http(s) URL, or empty',
  'public-url': 'an http(s) URL without a path, or empty',
  'listen-address': 'an IP address or host name',
  'optional-listen-address': 'an IP address or host name, or empty',
  'sql-identifier': 'a lower-case SQL identifier',
  'uaa-scope': 'one UAA scope',
  'no-spaces': 'text without spaces',
  'stack-name': 'a stack name',
  'directory-key': "a directory name, not one of Cloud Controller's",
  stacks: '`name=path,…`',
  'file-list': 'comma-separated file paths',
  'token-ttl': 'seconds, 60 to 300',
  'gc-grace-ms': 'milliseconds, at least 300000',
  'gzip-level': '1 to 9',
  'capi-page-size': '1 to 5000',
  'presign-expiry': 'seconds, 1 to 604800',
  'sas-expiry': 'seconds, 1 to 604800',
  'key-prefix': 'path segments of letters, digits, . _ - (none . or ..), or empty',
  'azure-account-name': 'a storage account name, or empty',
  'azure-container': 'a container name, or empty',
  'azure-account-key': 'a base64 key, or empty',
  'azure-sas-token': 'a SAS token, or empty',
};

/** The Markdown of docs/configuration.md. */
export function configReference(): string {
  const rows = entries(configSchema as Record<string, unknown>, '').map(([key, entry]) =>
    [entry.env ? `\`${entry.env}\`` : '', `\`${key}\``, defaultOf(entry), formatOf(entry.format), entry.doc.replaceAll('|', '\\|')].join(' | '),
  );
  return [
    '# Configuration reference',
    '',
    'Generated from `src/config/schema.ts` by `npm run docs:config`; do not edit by hand (a test',
    'fails when this file and the schema disagree). Every setting is an environment variable, or the',
    'key of the same name in a JSON file passed with `--config` (environment variables win).',
    '',
    '| variable | key | default | accepts | what it does |',
    '|---|---|---|---|---|',
    ...rows.map((row) => `| ${row} |`),
    '',
  ].join('\n');
}

function entries(node: Record<string, unknown>, prefix: string): Array<[string, SchemaEntry]> {
  return Object.entries(node).flatMap(([name, value]): Array<[string, SchemaEntry]> => {
    const key = prefix ? `${prefix}.${name}` : name;
    if (isEntry(value)) return [[key, value]];
    return entries(value as Record<string, unknown>, key);
  });
}

function isEntry(value: unknown): value is SchemaEntry {
  return typeof value === 'object' && value !== null && 'doc' in value && 'default' in value;
}

function defaultOf(entry: SchemaEntry): string {
  if (entry.sensitive) return entry.default === '' ? '*(empty; secret)*' : '*(secret)*';
  const value = entry.default;
  if (value === '' || (Array.isArray(value) && value.length === 0)) return '*(empty)*';
  if (typeof value === 'object' && value !== null && Object.keys(value).length === 0) return '*(none)*';
  return `\`${typeof value === 'string' ? value : JSON.stringify(value)}\``;
}

function formatOf(format: SchemaEntry['format']): string {
  if (typeof format === 'string') return FORMAT_WORDS[format];
  if (typeof format === 'function') return 'text'; // String
  return `one of ${format.map((item) => `\`${item}\``).join(', ')}`;
}
