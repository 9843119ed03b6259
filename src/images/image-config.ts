/**
 * The OCI image config of a droplet image: what `docker run` needs to start the app the way
 * Diego does (DESIGN.md "The image"; cloud-foundry.md §3.2). No app environment variables or
 * service credentials ever go in: only what Cloud Controller's runtime environment says of the
 * app itself.
 */
import type { LayerDescriptor } from '../conversion/layer-descriptor.ts';
import type { AppRef, DropletFacts } from '../sources/droplet-source.ts';

/** Where Diego unpacks the lifecycle; the launcher is its entry point. */
export const LAUNCHER_PATH = '/tmp/lifecycle/launcher';
/** The port Diego gives the web process; images expose the same. */
export const APP_PORT = 8080;

export interface ImageLayers {
  readonly rootfs: LayerDescriptor;
  readonly droplet: LayerDescriptor;
  readonly lifecycle: LayerDescriptor;
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
    'org.cloudfoundry.rootfs.digest': layers.rootfs.digest,
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
    rootfs: { type: 'layers', diff_ids: [layers.rootfs.diffId, layers.droplet.diffId, layers.lifecycle.diffId] },
    history: [
      { created, created_by: `rootfs of stack ${input.stack}`, comment: layers.rootfs.digest },
      { created, created_by: `droplet ${droplet.guid} of app ${app.name}` },
      { created, created_by: `lifecycle launcher at ${LAUNCHER_PATH}` },
    ],
  };
}

/** The command the web process runs: CAPI's `process_types.web`, else staging_info.yml's. */
export function resolveStartCommand(droplet: DropletFacts, stagingInfo: { start_command?: unknown } | null): string {
  const web = droplet.processTypes?.web;
  if (typeof web === 'string' && web !== '') return web;
  return typeof stagingInfo?.start_command === 'string' ? stagingInfo.start_command : '';
}
