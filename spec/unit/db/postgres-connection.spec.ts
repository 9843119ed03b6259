/**
 * TLS settings for Postgres: `sslmode` in DATABASE_URL and DATABASE_CA_CERT work together (pg
 * alone would drop the CA when the URL names an sslmode).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import tls from 'node:tls';
import { postgresConnection } from '../../../src/db/create-database.ts';

const URL_BASE = 'postgres://u:p@db.example.com:5432/registry';
const CA = '-----BEGIN CERTIFICATE-----\n…\n-----END CERTIFICATE-----\n';

describe('postgresConnection', () => {
  it('uses no TLS without sslmode or CA', () => {
    assert.deepEqual(postgresConnection(URL_BASE, undefined), { connectionString: URL_BASE });
  });

  it('verifies against the CA added to the default trust, with or without a verifying sslmode in the URL', () => {
    const trusted = [...tls.getCACertificates('default'), CA];
    assert.deepEqual(postgresConnection(URL_BASE, { ca: CA }), { connectionString: URL_BASE, ssl: { ca: trusted } });
    assert.deepEqual(postgresConnection(`${URL_BASE}?sslmode=verify-full&application_name=r`, { ca: CA }), {
      connectionString: `${URL_BASE}?application_name=r`,
      ssl: { ca: trusted },
    });
    assert.deepEqual(postgresConnection(`${URL_BASE}?sslmode=require`, undefined), { connectionString: URL_BASE, ssl: {} });
  });

  it('honours sslmode=disable and sslmode=no-verify', () => {
    assert.deepEqual(postgresConnection(`${URL_BASE}?sslmode=disable`, { ca: CA }), { connectionString: URL_BASE, ssl: false });
    assert.deepEqual(postgresConnection(`${URL_BASE}?sslmode=no-verify`, undefined), { connectionString: URL_BASE, ssl: { rejectUnauthorized: false } });
  });
});
