/** Every metric of the registry starts with this, process metrics included, so dashboards can select them all. */
export const METRIC_PREFIX = 'droplet_registry_';
