import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDatabaseConnectionError } from '../../../src/db/connection-errors.ts';

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('isDatabaseConnectionError', () => {
  it('recognises a lost or refused connection, however the driver and knex word it', () => {
    const lost = [
      withCode('terminating connection due to administrator command', '57P01'),
      withCode('the database system is starting up', '57P03'),
      withCode('connection failure', '08006'),
      withCode('sorry, too many clients already', '53300'),
      withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'),
      new Error('select "id" from "images" - Connection terminated unexpectedly'),
      new Error('Client has encountered a connection error and is not queryable'),
      Object.assign(new Error('Knex: Timeout acquiring a connection. The pool is probably full.'), { name: 'KnexTimeoutError' }),
      // hapi's Boom of a thrown non-Error keeps it in `data`; a wrapping error in `cause`.
      Object.assign(new Error('An internal server error occurred'), { data: { code: '57P01', message: 'terminating connection' } }),
      new Error('conversion failed', { cause: withCode('terminating connection due to administrator command', '57P01') }),
    ];
    for (const error of lost) assert.equal(isDatabaseConnectionError(error), true, error.message);
  });

  it('leaves failed queries and everything else to be 500s', () => {
    const others = [
      withCode('duplicate key value violates unique constraint', '23505'),
      withCode('relation "images" does not exist', '42P01'),
      withCode('canceling statement due to statement timeout', '57014'),
      new Error('image 3 is ready without a manifest'),
      'Connection terminated',
      null,
    ];
    for (const error of others) assert.equal(isDatabaseConnectionError(error), false, String(error));
  });
});
