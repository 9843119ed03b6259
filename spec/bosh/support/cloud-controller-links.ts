/**
 * The links capi-release's cloud_controller_ng provides, built from a manifest (interpolated, or
 * with its `((variables))` filled in otherwise) the way the director builds them: each property the link lists, from the job's manifest properties,
 * else the job spec's default. The lists and defaults are quoted from capi-release's
 * jobs/cloud_controller_ng/spec (commit f5c0d2ae, after final release 1.235.0), limited to the
 * properties the droplet-registry job reads.
 */
import type { LinkSpec } from './render-job.ts';

/** As much of a manifest as the links come from. */
export interface ManifestWithApi {
  readonly instance_groups: ReadonlyArray<{ readonly name: string; readonly instances: number; readonly jobs: ReadonlyArray<{ readonly name: string; readonly properties?: Record<string, unknown> }> }>;
}

/** `provides: - name: cloud_controller_https_endpoint`, whole. */
const HTTPS_ENDPOINT_PROPERTIES = ['cc.internal_service_hostname', 'cc.public_tls.port', 'cc.public_tls.ca_cert'];

/** `provides: - name: cloud_controller_internal`, the cc.droplets entries. */
const INTERNAL_PROPERTIES = [
  'cc.droplets.blobstore_provider',
  'cc.droplets.blobstore_type',
  'cc.droplets.droplet_directory_key',
  'cc.droplets.fog_connection',
  'cc.droplets.connection_config',
  'cc.droplets.webdav_config.blobstore_timeout',
  'cc.droplets.webdav_config.ca_cert',
  'cc.droplets.webdav_config.password',
  'cc.droplets.webdav_config.private_endpoint',
  'cc.droplets.webdav_config.public_endpoint',
  'cc.droplets.webdav_config.username',
];

/** The spec's defaults of those properties (the others have none). */
const DEFAULTS: Record<string, unknown> = {
  'cc.internal_service_hostname': 'cloud-controller-ng.service.cf.internal',
  'cc.public_tls.port': 9024,
  'cc.droplets.blobstore_type': 'fog',
  'cc.droplets.droplet_directory_key': 'cc-droplets',
  'cc.droplets.webdav_config.blobstore_timeout': 5,
  'cc.droplets.webdav_config.public_endpoint': '',
  'cc.droplets.webdav_config.private_endpoint': 'https://blobstore.service.cf.internal:4443',
  'cc.droplets.webdav_config.username': '',
  'cc.droplets.webdav_config.password': '',
  'cc.droplets.webdav_config.ca_cert': '',
};

/** cloud_controller_https_endpoint and cloud_controller_internal of the `api` instance group's cloud_controller_ng. */
export function cloudControllerLinks(manifest: ManifestWithApi): Record<'cloud_controller_https_endpoint' | 'cloud_controller_internal', LinkSpec> {
  const api = manifest.instance_groups.find((group) => group.name === 'api');
  const properties = api?.jobs.find((job) => job.name === 'cloud_controller_ng')?.properties;
  if (!properties) throw new Error('the manifest has no cloud_controller_ng job in instance group api');
  const count = api?.instances ?? 0;
  const instances = Array.from({ length: count }, (_, index) => ({ name: 'api', index, id: `api-${index}`, az: `z${(index % 2) + 1}`, address: `10.0.1.${10 + index}`, bootstrap: index === 0 }));
  const link = (names: readonly string[]): LinkSpec => {
    const picked: Record<string, unknown> = {};
    for (const name of names) {
      const value = lookup(properties, name) ?? DEFAULTS[name];
      if (value !== undefined) insert(picked, name, value);
    }
    return { instances, properties: picked };
  };
  return { cloud_controller_https_endpoint: link(HTTPS_ENDPOINT_PROPERTIES), cloud_controller_internal: link(INTERNAL_PROPERTIES) };
}

function lookup(properties: Record<string, unknown>, dotted: string): unknown {
  let node: unknown = properties;
  for (const key of dotted.split('.')) node = node && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined;
  return node ?? undefined;
}

function insert(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const keys = dotted.split('.');
  const last = keys.pop() as string;
  let node = target;
  for (const key of keys) node = (node[key] ??= {}) as Record<string, unknown>;
  node[last] = value;
}
