/** `GET /`, `GET /v3` and `GET /v3/info`: the anonymous discovery documents clients start from. */
import { ok, type CapiRoute } from './routes.ts';

/** The `cloud_controller_v3` version this simulator presents itself as. */
const CC_API_VERSION = '3.190.0';

const V3_RESOURCES = [
  'app_usage_events', 'apps', 'audit_events', 'buildpacks', 'builds', 'deployments', 'domains', 'droplets',
  'environment_variable_groups', 'feature_flags', 'info', 'isolation_segments', 'organizations', 'organization_quotas',
  'packages', 'processes', 'resource_matches', 'roles', 'routes', 'security_groups', 'service_brokers',
  'service_instances', 'service_credential_bindings', 'service_offerings', 'service_plans', 'service_route_bindings',
  'service_usage_events', 'spaces', 'space_quotas', 'stacks', 'tasks', 'users',
];

export const rootRoutes: CapiRoute[] = [
  {
    name: 'GET /',
    anonymous: true,
    // `login` and `uaa` point at the simulated UAA (the cf CLI posts /oauth/token to `login`). Logging,
    // log-cache, SSH and CredHub are not simulated, so they are null, as unconfigured links are.
    // `cloud_controller_v2` is absent, as when `temporary_enable_v2` is off.
    handle: (_request, { base, uaa }) =>
      ok({
        links: {
          self: { href: base },
          cloud_controller_v3: { href: `${base}/v3`, meta: { version: CC_API_VERSION } },
          network_policy_v0: { href: `${base}/networking/v0/external` },
          network_policy_v1: { href: `${base}/networking/v1/external` },
          login: { href: uaa.url },
          uaa: { href: uaa.url },
          credhub: null,
          routing: { href: `${base}/routing` },
          logging: null,
          log_cache: null,
          log_stream: null,
          app_ssh: null,
        },
      }),
  },
  {
    name: 'GET /v3',
    anonymous: true,
    handle: (_request, { base }) =>
      ok({ links: { self: { href: `${base}/v3` }, ...Object.fromEntries(V3_RESOURCES.map((resource) => [resource, { href: `${base}/v3/${resource}` }])) } }),
  },
  {
    name: 'GET /v3/info',
    anonymous: true,
    handle: (_request, { base }) =>
      ok({
        build: 'cf-simulator',
        cli_version: { minimum: '6.22.0', recommended: 'latest' },
        custom: {},
        description: 'Simulated Cloud Foundry for droplet-registry tests',
        name: 'Cloud Foundry',
        version: 0,
        osbapi_version: '2.15',
        rate_limits: { enabled: false, general_limit: 2000, reset_interval_in_minutes: 30 },
        links: { self: { href: `${base}/v3/info` }, support: { href: 'https://github.com/cloudfoundry/cloud_controller_ng' } },
      }),
  },
];
