/**
 * Tells a lost or refused database connection (PostgreSQL restarting or failing over, an operator
 * ending sessions, a network cut, a pool that could not get a connection in time) from a query
 * that is wrong. The first is the platform's trouble and passes: requests caught by it are answered
 * 503 with Retry-After, as for any other backing service that is down, not 500.
 */

/** SQLSTATE classes and codes of connection trouble: 08 connection exception, 57P01-57P03 shutdown / cannot connect now, 53300 too many connections. */
const CONNECTION_SQLSTATE = /^(?:08...|57P0[1-3]|53300)$/;

/** What node-postgres says when a connection dies under it (plain Errors, without a code). */
const CONNECTION_MESSAGES = [
  'Connection terminated',
  'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable',
];

/** Socket errors of the database connection itself (a refused or reset TCP connection). */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);

/** Whether `error` means the database could not be used right now (rather than a failed query). */
export function isDatabaseConnectionError(error: unknown, depth = 0): boolean {
  // Duck-typed, and looked for inside what wraps it: hapi hands a thrown non-Error over as a Boom with it in `data`.
  if (typeof error !== 'object' || error === null || depth > 3) return false;
  const { name, code, message, cause, data } = error as { name?: unknown; code?: unknown; message?: unknown; cause?: unknown; data?: unknown };
  if (name === 'KnexTimeoutError') return true;
  if (typeof code === 'string' && (CONNECTION_SQLSTATE.test(code) || SOCKET_CODES.has(code))) return true;
  // knex puts the failed query in front of the driver's message.
  if (typeof message === 'string' && CONNECTION_MESSAGES.some((text) => message.includes(text))) return true;
  return isDatabaseConnectionError(cause, depth + 1) || isDatabaseConnectionError(data, depth + 1);
}
