/**
 * The checks behind `/readyz`: the database answers, the blobstore answers, takes writes and holds
 * the layers every image shares (the stacks' rootfs and the lifecycle), and with the capi source
 * Cloud Controller and UAA answer. Each is the cheapest request that proves the dependency usable.
 */
import type { AxiosInstance } from 'axios';
import type { Knex } from 'knex';
import type { BlobStore } from '../blobstore/blob-store.ts';
import { probeBlobStoreWrite } from '../blobstore/write-probe.ts';
import type { BaseLayers } from '../images/base-layers.ts';
import type { UaaUrl } from '../sources/capi/uaa-url.ts';
import { createUpstreamHttp } from '../sources/capi/upstream-http.ts';
import { READINESS_CHECK_TIMEOUT_MS, type ReadinessCheck } from './readiness.ts';

/** Local dependencies are asked at most once a second, whatever the probe rate. */
const LOCAL_CACHE_MS = 1_000;
/** Cloud Controller and UAA are asked at most every few seconds per instance. */
const UPSTREAM_CACHE_MS = 5_000;

export interface ReadinessParts {
  readonly db: Knex;
  readonly blobs: BlobStore;
  readonly baseLayers: BaseLayers;
  /** A test write to the blobstore is made at most this often (milliseconds); probes in between reuse its result. */
  readonly blobstoreWriteProbeMs: number;
  /** With the capi source: where Cloud Controller and UAA are, and the CA files to trust. */
  readonly capi?: { readonly url: string; readonly caCert: string; readonly uaaUrl: UaaUrl; readonly uaaCaCert: string };
}

export function readinessChecks(parts: ReadinessParts): ReadinessCheck[] {
  const { db, blobs, baseLayers, blobstoreWriteProbeMs } = parts;
  const checks: ReadinessCheck[] = [
    { name: 'database', cacheMs: LOCAL_CACHE_MS, check: async () => void (await db.raw('select 1')) },
    {
      name: 'blobstore',
      cacheMs: LOCAL_CACHE_MS,
      check: async () => {
        // A stat of a blob that is always there: reachability and credentials in one request.
        if (!(await blobs.stat(baseLayers.lifecycle.digest))) throw new Error(`the lifecycle layer ${baseLayers.lifecycle.digest} is missing from the blobstore`);
      },
    },
    { name: 'blobstore-write', cacheMs: blobstoreWriteProbeMs, check: () => probeBlobStoreWrite(blobs) },
    {
      name: 'rootfs',
      cacheMs: LOCAL_CACHE_MS,
      check: async () => {
        if (baseLayers.stacks.size === 0) throw new Error('no stack rootfs configured (STACKS): every droplet would answer MANIFEST_UNKNOWN');
        for (const [name, { stack, foundation }] of baseLayers.stacks) {
          if (!(await blobs.stat(stack.digest))) throw new Error(`the rootfs of stack ${name} (${stack.digest}) is missing from the blobstore`);
          if (foundation && !(await blobs.stat(foundation.digest))) throw new Error(`the foundation layer of stack ${name} (${foundation.digest}) is missing from the blobstore`);
        }
      },
    },
  ];
  if (parts.capi) {
    const { url, caCert, uaaUrl, uaaCaCert } = parts.capi;
    const capiHttp = probeClient(caCert);
    const uaaHttp = probeClient(uaaCaCert);
    checks.push(
      { name: 'capi', cacheMs: UPSTREAM_CACHE_MS, check: () => expectSuccess(capiHttp, `${url.replace(/\/$/, '')}/`, 'Cloud Controller') },
      { name: 'uaa', cacheMs: UPSTREAM_CACHE_MS, check: async () => expectSuccess(uaaHttp, `${(await uaaUrl()).replace(/\/$/, '')}/token_keys`, 'UAA') },
    );
  }
  return checks;
}

function probeClient(caFile: string): AxiosInstance {
  return createUpstreamHttp({ timeoutMs: READINESS_CHECK_TIMEOUT_MS, caFile }, { maxRedirects: 0, validateStatus: () => true });
}

/** An unauthenticated GET that must answer 2xx. */
async function expectSuccess(http: AxiosInstance, url: string, what: string): Promise<void> {
  const response = await http.get(url);
  if (response.status < 200 || response.status > 299) throw new Error(`${what} answered ${response.status} to GET ${new URL(url).pathname}`);
}
