import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import type { DropletLayer } from '../../../src/conversion/droplet-layer.ts';
import type { LayerDescriptor } from '../../../src/conversion/layer-descriptor.ts';
import { buildImageConfig, imageLayerList, resolveStartCommand, type ImageConfigInput } from '../../../src/images/image-config.ts';
import { buildImage } from '../../../src/images/image-manifest.ts';
import type { DropletFacts } from '../../../src/sources/droplet-source.ts';

function layer(seed: string): LayerDescriptor {
  const hex = (s: string) => createHash('sha256').update(s).digest('hex');
  return { digest: `sha256:${hex(`${seed}-gz`)}`, diffId: `sha256:${hex(seed)}`, size: 100 + seed.length, uncompressedSize: 1000, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' };
}

const droplet: DropletFacts = {
  guid: '585bc3c1-3743-497d-88b0-403ad6b56d16',
  appGuid: '7b34f1cf-0000-4000-8000-000000000001',
  state: 'STAGED',
  lifecycleType: 'buildpack',
  stack: 'cflinuxfs4',
  processTypes: { web: 'bundle exec rackup config.ru -p $PORT', worker: 'rake jobs' },
  buildpacks: [{ name: 'ruby_buildpack', version: '1.1.1' }, { name: 'extra' }],
  createdAt: '2016-03-28T23:39:34Z',
  checksum: null,
};

const input: ImageConfigInput = {
  app: { guid: droplet.appGuid, name: 'my_app', space: { guid: 'space-guid', name: 'dev' }, org: { guid: 'org-guid', name: 'my-org' } },
  droplet,
  stack: 'cflinuxfs4',
  startCommand: 'bundle exec rackup config.ru -p $PORT',
  layers: { stack: layer('stack'), foundation: null, droplet: [{ ...layer('droplet'), role: 'app' }], lifecycle: layer('lifecycle') },
};

/** The same image on a foundation layer, with its droplet split: deps/0 from the first buildpack, deps/1 from the second, the rest. */
const split: ImageConfigInput = {
  ...input,
  layers: {
    stack: layer('stack'),
    foundation: layer('foundation'),
    droplet: [
      { ...layer('deps-0'), role: 'deps', depsIndex: '0' },
      { ...layer('deps-1'), role: 'deps', depsIndex: '1' },
      { ...layer('app'), role: 'app' },
    ] satisfies DropletLayer[],
    lifecycle: layer('lifecycle'),
  },
};

describe('buildImageConfig', () => {
  const config = buildImageConfig(input) as Record<string, any>;

  it('runs the web command through the launcher as vcap in /home/vcap', () => {
    assert.equal(config.config.User, '2000:2000');
    assert.equal(config.config.WorkingDir, '/home/vcap');
    assert.deepEqual(config.config.Entrypoint, ['/tmp/lifecycle/launcher', 'app']);
    assert.deepEqual(config.config.Cmd, ['bundle exec rackup config.ru -p $PORT', '']);
    assert.deepEqual(config.config.ExposedPorts, { '8080/tcp': {} });
    assert.equal(config.architecture, 'amd64');
    assert.equal(config.os, 'linux');
    assert.equal(config.created, '2016-03-28T23:39:34Z');
  });

  it('sets the environment Diego gives an app, and no secrets', () => {
    const env = Object.fromEntries((config.config.Env as string[]).map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
    assert.equal(env.HOME, '/home/vcap/app');
    assert.equal(env.PORT, '8080');
    assert.equal(env.LANG, 'en_US.UTF-8');
    assert.equal(env.TMPDIR, '/home/vcap/tmp');
    assert.equal(env.DEPS_DIR, '/home/vcap/deps');
    assert.equal(env.VCAP_APP_HOST, '0.0.0.0');
    const vcap = JSON.parse(env.VCAP_APPLICATION as string);
    assert.equal(vcap.application_name, 'my_app');
    assert.equal(vcap.space_name, 'dev');
    assert.equal(vcap.organization_name, 'my-org');
    assert.equal(vcap.application_version, droplet.guid);
    assert.equal(env.VCAP_SERVICES, undefined);
    assert.equal(env.DATABASE_URL, undefined);
  });

  it('labels the image with where it came from', () => {
    const labels = config.config.Labels as Record<string, string>;
    assert.equal(labels['org.cloudfoundry.app.guid'], droplet.appGuid);
    assert.equal(labels['org.cloudfoundry.droplet.guid'], droplet.guid);
    assert.equal(labels['org.cloudfoundry.stack'], 'cflinuxfs4');
    assert.equal(labels['org.cloudfoundry.buildpacks'], 'ruby_buildpack@1.1.1,extra');
    assert.equal(labels['org.cloudfoundry.stack.digest'], input.layers.stack.digest);
    assert.equal(labels['org.cloudfoundry.foundation.digest'], undefined);
    const splitLabels = (buildImageConfig(split) as Record<string, any>).config.Labels as Record<string, string>;
    assert.equal(splitLabels['org.cloudfoundry.foundation.digest'], split.layers.foundation?.digest);
  });

  it('lists the uncompressed layer digests in layer order, with a history entry each', () => {
    assert.deepEqual(config.rootfs, { type: 'layers', diff_ids: [input.layers.stack.diffId, input.layers.lifecycle.diffId, input.layers.droplet[0]?.diffId] });
    assert.equal(config.history.length, 3);
  });

  it('says in the history where each layer came from: stack, foundation, the launcher, the buildpack of each deps layer, the droplet', () => {
    const splitConfig = buildImageConfig(split) as Record<string, any>;
    assert.deepEqual(
      splitConfig.rootfs.diff_ids,
      imageLayerList(split.layers).map((l) => l.diffId),
    );
    assert.deepEqual(
      (splitConfig.history as Array<{ created_by: string }>).map((entry) => entry.created_by),
      [
        'stack cflinuxfs4',
        'trusted certificates of this Cloud Foundry foundation',
        'lifecycle launcher at /tmp/lifecycle/launcher',
        'deps/0 supplied by buildpack ruby_buildpack@1.1.1',
        'deps/1 supplied by buildpack extra',
        `droplet ${droplet.guid} of app my_app`,
      ],
    );
  });
});

describe('buildImage', () => {
  it('gives an OCI manifest whose digests are of the exact bytes', () => {
    const image = buildImage(input);
    const manifest = JSON.parse(image.manifestBytes.toString());
    assert.equal(manifest.schemaVersion, 2);
    assert.equal(manifest.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.deepEqual(manifest.config, { mediaType: 'application/vnd.oci.image.config.v1+json', digest: image.configDigest, size: image.configBytes.length });
    assert.deepEqual(
      manifest.layers.map((l: { digest: string }) => l.digest),
      [input.layers.stack.digest, input.layers.lifecycle.digest, input.layers.droplet[0]?.digest],
    );
    assert.equal(image.manifestDigest, `sha256:${createHash('sha256').update(image.manifestBytes).digest('hex')}`);
    assert.equal(image.configDigest, `sha256:${createHash('sha256').update(image.configBytes).digest('hex')}`);
    assert.equal(manifest.annotations['org.opencontainers.image.created'], droplet.createdAt);
  });

  it('is reproducible: the same input gives the same bytes, a new droplet layer a new digest', () => {
    assert.deepEqual(buildImage(input), buildImage(structuredClone(input)));
    const other = buildImage({ ...input, layers: { ...input.layers, droplet: [{ ...layer('droplet-2'), role: 'app' }] } });
    assert.notEqual(other.manifestDigest, buildImage(input).manifestDigest);
    const rebased = buildImage({ ...input, layers: { ...input.layers, stack: layer('stack-2') } });
    assert.notEqual(rebased.manifestDigest, buildImage(input).manifestDigest);
  });
});

describe('resolveStartCommand', () => {
  it('prefers the web process type, then staging_info.yml, then nothing', () => {
    assert.equal(resolveStartCommand(droplet, 'other'), droplet.processTypes?.web);
    assert.equal(resolveStartCommand({ ...droplet, processTypes: null }, './run.sh'), './run.sh');
    assert.equal(resolveStartCommand({ ...droplet, processTypes: { worker: 'x' } }, null), '');
  });
});
