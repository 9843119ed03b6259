/**
 * The image's lifecycle layer: what Diego unpacks to /tmp/lifecycle. By default a tiny launcher
 * script that starts the app the way buildpackapplifecycle's launcher does; operators may supply
 * the real buildpack_app_lifecycle tarball instead. Both are built reproducibly, so every instance
 * arrives at the same digest.
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import type { BlobStore } from '../blobstore/blob-store.ts';
import { InvalidDropletError } from '../errors/registry-error.ts';
import { describeArchiveError } from './archive-errors.ts';
import { createByteMeter } from './byte-meter.ts';
import { createEntryRuleState, LIFECYCLE_RULE, rewriteArchiveEntry, ROOT_OWNER } from './droplet-entry-rules.ts';
import { createGzipMagicProbe } from './gzip-magic-probe.ts';
import { InvalidLayerFileError } from './invalid-layer-file-error.ts';
import type { LayerDescriptor } from './layer-descriptor.ts';
import { createTarRewrite } from './rewrite-tar.ts';
import { storeTarLayer } from './store-layer.ts';
import { LAYER_CHUNK_BYTES } from './stream-chunk-size.ts';

/**
 * `/tmp/lifecycle/launcher <app dir> <start command> [<execution metadata>]`, run from /home/vcap
 * as Diego runs buildpackapplifecycle's launcher: HOME, TMPDIR and DEPS_DIR set from the app
 * directory (so /home/vcap/app, /home/vcap/tmp, /home/vcap/deps), an empty start command taken
 * from staging_info.yml, then `cd` into the app, source `../profile.d/*`, `.profile.d/*` and
 * `.profile`, and exec the command with `bash -c`. POSIX sh, so it also runs on rootfses without
 * bash (it re-runs itself under bash where there is one: buildpacks write profile scripts for bash).
 * Left out, as they need platform state an image does not have: rewriting VCAP_APPLICATION's
 * host/port/instance fields, DATABASE_URL from VCAP_SERVICES, CredHub interpolation, and the
 * staging_info `entrypoint_prefix`.
 */
export const LAUNCHER_SCRIPT = String.raw`#!/bin/sh
# Starts a Cloud Foundry app the way buildpackapplifecycle's launcher does on Diego.
# Usage, from /home/vcap: launcher <app directory> <start command> [<execution metadata>]
# An empty start command means the start_command of ./staging_info.yml.

# Buildpacks write their profile.d scripts for bash, which Diego sources them with.
if [ -z "$BASH_VERSION" ] && command -v bash >/dev/null 2>&1; then
  exec bash "$0" "$@"
fi

if [ "$#" -lt 2 ]; then
  echo "usage: $0 <app directory> <start command> [<execution metadata>]" >&2
  exit 1
fi

launcher_command=$2
if [ -z "$launcher_command" ] && [ -f staging_info.yml ]; then
  # staging_info.yml is JSON written by Go: take start_command and undo the escapes Go writes.
  launcher_soh=$(printf '\001')
  launcher_stx=$(printf '\002')
  launcher_tab=$(printf '\t')
  launcher_command=$(sed -n \
    -e 's/\\\\/'"$launcher_soh"'/g' \
    -e 's/\\"/'"$launcher_stx"'/g' \
    -e 't escaped' \
    -e ':escaped' \
    -e 's/.*"start_command"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/' \
    -e 't found' \
    -e 'd' \
    -e ':found' \
    -e 's/\\u0026/\&/g' \
    -e 's/\\u003[cC]/</g' \
    -e 's/\\u003[eE]/>/g' \
    -e 's/\\u0027/'"'"'/g' \
    -e 's/\\\//\//g' \
    -e 's/\\t/'"$launcher_tab"'/g' \
    -e 's/\\n/\
/g' \
    -e 's/'"$launcher_stx"'/"/g' \
    -e 's/'"$launcher_soh"'/\\/g' \
    -e p staging_info.yml)
fi
if [ -z "$launcher_command" ]; then
  echo "$0: no start command specified or detected in droplet" >&2
  exit 1
fi

cd "$1" || exit 1
launcher_app_dir=$(pwd)
launcher_parent=$(dirname "$launcher_app_dir")
case $launcher_parent in /) launcher_parent= ;; esac
export HOME="$launcher_app_dir"
export TMPDIR="$launcher_parent/tmp"
export DEPS_DIR="$launcher_parent/deps"

for launcher_env_file in ../profile.d/*; do
  if [ -f "$launcher_env_file" ]; then . "$launcher_env_file"; fi
done
for launcher_env_file in .profile.d/*; do
  if [ -f "$launcher_env_file" ]; then . "$launcher_env_file"; fi
done
if [ -f .profile ]; then . ./.profile; fi

if command -v bash >/dev/null 2>&1; then
  exec bash -c "$launcher_command"
fi
exec sh -c "$launcher_command"
`;

const EPOCH = new Date(0);

/** Stores the built-in launcher layer: `tmp/` (1777), `tmp/lifecycle/`, `tmp/lifecycle/launcher`, all root's, mtime 0. */
export async function buildLauncherLayer(blobs: BlobStore, compressionLevel: number): Promise<LayerDescriptor> {
  const pack = tar.pack();
  pack.entry({ name: 'tmp/', type: 'directory', mode: 0o1777, mtime: EPOCH, ...ROOT_OWNER });
  pack.entry({ name: 'tmp/lifecycle/', type: 'directory', mode: 0o755, mtime: EPOCH, ...ROOT_OWNER });
  pack.entry({ name: 'tmp/lifecycle/launcher', type: 'file', mode: 0o755, mtime: EPOCH, ...ROOT_OWNER }, LAUNCHER_SCRIPT);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return storeTarLayer(Readable.from([Buffer.concat(chunks)]), [], { blobs, compressionLevel });
}

/**
 * Stores an operator-supplied lifecycle `.tgz` (buildpack_app_lifecycle: `launcher`, `builder`, …
 * at its root) re-rooted under `tmp/lifecycle/` and owned by root, checked like a droplet.
 */
export async function buildLifecycleLayerFromTarball(path: string, blobs: BlobStore, compressionLevel: number): Promise<LayerDescriptor> {
  const state = createEntryRuleState();
  let tarBytes = 0;
  const magic = createGzipMagicProbe();
  try {
    return await storeTarLayer(
      createReadStream(path, { highWaterMark: LAYER_CHUNK_BYTES }),
      [
        magic.stream,
        createGunzip({ chunkSize: LAYER_CHUNK_BYTES }),
        createByteMeter((total) => {
          tarBytes = total;
        }),
        createTarRewrite((header) => rewriteArchiveEntry(header, state, LIFECYCLE_RULE)),
      ],
      { blobs, compressionLevel },
    );
  } catch (error) {
    if (error instanceof InvalidDropletError) throw new InvalidLayerFileError(`${path}: ${error.message}`, { cause: error });
    const problem = describeArchiveError(error, tarBytes, magic.startsAsGzip());
    if (problem !== undefined) throw new InvalidLayerFileError(`lifecycle tarball ${path} ${problem}`, { cause: error });
    throw error;
  }
}
