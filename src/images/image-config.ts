/**
 * The OCI image config of a droplet image: what `docker run` needs to start the app the way
 * Diego does (DESIGN.md "The image"; cloud-foundry.md §3.2). No app environment variables or
 * service credentials ever go in: only what Cloud Controller's runtime environment says of the
 * app itself.
 */
import type { DropletLayer } from '../conversion/droplet-layer.ts';
import type { LayerDescriptor } from '../conversion/layer-descriptor.ts';
import type { AppRef, DropletFacts } from '../sources/droplet-source.ts';

/** Where Diego unpacks the lifecycle; the launcher is its entry point. */
export const LAUNCHER_PATH = '/tmp/lifecycle/launcher';
/** The port Diego gives the web process; images expose the same. */
export const APP_PORT = 8080;

/** An image's layers by part; `imageLayerList` gives them in manifest order. */
export interface ImageLayers {
  /** The stack release's own tarball. */
  readonly stack: LayerDescriptor;
  /** What the foundation adds (its trusted CAs); null when none. */
  readonly foundation: LayerDescriptor | null;
  /** The droplet's layers, bottom → top (one per buildpack's deps/<i>, then the rest; or one). */
  readonly droplet: readonly DropletLayer[];
  readonly lifecycle: LayerDescriptor;
}

/**
 * Bottom → top, as the manifest lists them: stack, foundation, lifecycle, the droplet's. What
 * changes least goes lowest: clients that store layers as a chain on their parents (Docker's own
 * image store) fetch a changed layer and every one above it again, so a restage fetches only the
 * droplet's app layer.
 */
export function imageLayerList(layers: ImageLayers): LayerDescriptor[] {
  return [layers.stack, ...(layers.foundation ? [layers.foundation] : []), layers.lifecycle, ...layers.droplet];
}

export interface ImageConfigInput {
  readonly app: AppRef;
  readonly droplet: DropletFacts;
  readonly stack: string;
  /** The web process command; '' lets the launcher read staging_info.yml's start_command. */
  readonly startCommand: string;
  readonly layers: ImageLayers;
}

/** The labels every droplet image carries (also used to find where an image came from). */
export function imageLabels(input: ImageConfigInput): Record<string, string> {
  const { app, droplet, layers } = input;
  return {
    'org.cloudfoundry.app.guid': app.guid,
    'org.cloudfoundry.app.name': app.name,
    'org.cloudfoundry.space.guid': app.space.guid,
    'org.cloudfoundry.space.name': app.space.name,
    'org.cloudfoundry.org.guid': app.org.guid,
    'org.cloudfoundry.org.name': app.org.name,
    'org.cloudfoundry.droplet.guid': droplet.guid,
    'org.cloudfoundry.stack': input.stack,
    'org.cloudfoundry.buildpacks': droplet.buildpacks
      .map((buildpack) => (buildpack.version ? `${buildpack.name}@${buildpack.version}` : buildpack.name))
      .join(','),
    'org.cloudfoundry.stack.digest': layers.stack.digest,
    ...(layers.foundation ? { 'org.cloudfoundry.foundation.digest': layers.foundation.digest } : {}),
  };
}

/** The image config object; serialise it with `JSON.stringify` (key order here is fixed). */
export function buildImageConfig(input: ImageConfigInput): object {
  const { app, droplet, layers } = input;
  // VCAP_APPLICATION as Cloud Controller builds it, minus what only a running instance knows.
  const vcapApplication = {
    application_id: app.guid,
    application_name: app.name,
    application_uris: [],
    application_version: droplet.guid,
    limits: {},
    name: app.name,
    organization_id: app.org.guid,
    organization_name: app.org.name,
    process_type: 'web',
    space_id: app.space.guid,
    space_name: app.space.name,
    uris: [],
    users: null,
    version: droplet.guid,
  };
  const created = droplet.createdAt;
  return {
    created,
    architecture: 'amd64', // cflinuxfs stacks are amd64 only
    os: 'linux',
    config: {
      User: '2000:2000',
      ExposedPorts: { [`${APP_PORT}/tcp`]: {} },
      Env: [
        'PATH=/usr/local/bin:/usr/bin:/bin',
        'LANG=en_US.UTF-8',
        'HOME=/home/vcap/app',
        'TMPDIR=/home/vcap/tmp',
        'DEPS_DIR=/home/vcap/deps',
        `PORT=${APP_PORT}`,
        `VCAP_APP_PORT=${APP_PORT}`,
        'VCAP_APP_HOST=0.0.0.0',
        `VCAP_APPLICATION=${JSON.stringify(vcapApplication)}`,
      ],
      Entrypoint: [LAUNCHER_PATH, 'app'],
      Cmd: [input.startCommand, ''],
      WorkingDir: '/home/vcap',
      Labels: imageLabels(input),
    },
    rootfs: { type: 'layers', diff_ids: imageLayerList(layers).map((layer) => layer.diffId) },
    history: imageHistory(input, created),
  };
}

/** One entry per layer, saying where it came from (`docker history` shows them). */
function imageHistory(input: ImageConfigInput, created: string): object[] {
  const { app, droplet, layers } = input;
  const history: object[] = [{ created, created_by: `stack ${input.stack}`, comment: layers.stack.digest }];
  if (layers.foundation) history.push({ created, created_by: `trusted certificates of this Cloud Foundry foundation`, comment: layers.foundation.digest });
  history.push({ created, created_by: `lifecycle launcher at ${LAUNCHER_PATH}` });
  for (const layer of layers.droplet) {
    if (layer.role === 'deps') {
      const buildpack = droplet.buildpacks[Number(layer.depsIndex)];
      const name = buildpack ? (buildpack.version ? `${buildpack.name}@${buildpack.version}` : buildpack.name) : 'an unnamed buildpack';
      history.push({ created, created_by: `deps/${layer.depsIndex} supplied by buildpack ${name}` });
    } else history.push({ created, created_by: `droplet ${droplet.guid} of app ${app.name}` });
  }
  return history;
}

/** The command the web process runs: CAPI's `process_types.web`, else staging_info.yml's start_command. */
export function resolveStartCommand(droplet: DropletFacts, stagingStartCommand: string | null): string {
  const web = droplet.processTypes?.web;
  if (typeof web === 'string' && web !== '') return web;
  return stagingStartCommand ?? '';
}
