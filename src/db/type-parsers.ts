/**
 * Column parsers shared by both drivers, so a query returns the same JS values on Postgres (`pg`)
 * and on the embedded PGlite.
 *
 * @remarks
 * `pg` returns int8 as strings and PGlite as numbers (or `BigInt` past 2^53); `pg` returns bytea as
 * `Buffer` and PGlite as a bare `Uint8Array`. Sizes, counts, ids and millisecond values all fit in a
 * double, so int8 becomes a `number`, and a value that would not fit is an error rather than a
 * silently rounded size.
 */

/** PostgreSQL type oids (`pg_type.oid`) the registry parses itself. */
export const INT8_OID = 20;
export const BYTEA_OID = 17;

/** int8 text → number; refuses values a double cannot hold exactly. */
export function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new RangeError(`int8 value ${text} does not fit in a JavaScript number`);
  return value;
}

/** bytea in Postgres' hex output format (`\x0a1b…`) → Buffer. */
export function parseBytea(text: string): Buffer {
  return Buffer.from(text.slice(2), 'hex');
}
