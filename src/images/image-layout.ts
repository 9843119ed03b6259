/**
 * Writes an image out of a blobstore directory as an OCI image layout, and packs such a layout
 * as a `docker load` / `podman load` archive. The archive holds both the OCI layout and Docker's
 * `manifest.json` (what `docker save` writes since Engine 25), so old and new loaders accept it.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import type { AssembledImage } from './assemble-image.ts';
import { imageLayerList } from './image-config.ts';
import { OCI_MANIFEST } from './media-types.ts';

/**
 * Completes `dir` — an FsBlobStore root that already holds the image's blobs under
 * `blobs/sha256/` — as an OCI image layout tagged `refName`.
 */
export async function writeOciLayout(dir: string, image: AssembledImage, refName: string): Promise<void> {
  const hex = image.manifestDigest.slice('sha256:'.length);
  await writeFile(join(dir, 'blobs', 'sha256', hex), image.manifestBytes);
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: OCI_MANIFEST,
        digest: image.manifestDigest,
        size: image.manifestBytes.length,
        annotations: { 'org.opencontainers.image.ref.name': refName },
      },
    ],
  };
  await writeFile(join(dir, 'index.json'), JSON.stringify(index));
  await rm(join(dir, 'staging'), { recursive: true, force: true });
}

/** Packs the OCI layout in `dir` (plus Docker's manifest.json naming `repoTag`) into a tar file. */
export async function packLoadArchive(dir: string, image: AssembledImage, repoTag: string, file: string): Promise<void> {
  const pack = tar.pack();
  const output = pipeline(pack, createWriteStream(file));
  const blobPath = (digest: string): string => `blobs/sha256/${digest.slice('sha256:'.length)}`;
  const dockerManifest = [
    {
      Config: blobPath(image.configDigest),
      RepoTags: [repoTag],
      Layers: imageLayerList(image.layers).map((layer) => blobPath(layer.digest)),
    },
  ];
  const addBuffer = (name: string, content: Buffer | string) =>
    new Promise<void>((resolve, reject) => pack.entry({ name, mtime: new Date(0), mode: 0o644 }, content, (error) => (error ? reject(error) : resolve())));
  try {
    await addBuffer('oci-layout', await readFile(join(dir, 'oci-layout')));
    await addBuffer('index.json', await readFile(join(dir, 'index.json')));
    await addBuffer('manifest.json', JSON.stringify(dockerManifest));
    pack.entry({ name: 'blobs/', type: 'directory', mtime: new Date(0), mode: 0o755 });
    pack.entry({ name: 'blobs/sha256/', type: 'directory', mtime: new Date(0), mode: 0o755 });
    for (const hex of (await readdir(join(dir, 'blobs', 'sha256'))).sort()) {
      const path = join(dir, 'blobs', 'sha256', hex);
      const { size } = await stat(path);
      const entry = pack.entry({ name: `blobs/sha256/${hex}`, size, mtime: new Date(0), mode: 0o644 });
      await pipeline(createReadStream(path), entry);
    }
    pack.finalize();
  } catch (error) {
    pack.destroy(error as Error);
  }
  await output;
}

