/** The configured blobstore: the filesystem (default), S3, Cloud Foundry's WebDAV blobstore or Azure Blob Storage. */
import { readFileSync } from 'node:fs';
import { AzureBlobStore } from '../blobstore/azure-blob-store.ts';
import type { BlobStore } from '../blobstore/blob-store.ts';
import { FsBlobStore } from '../blobstore/fs-blob-store.ts';
import { S3BlobStore } from '../blobstore/s3-blob-store.ts';
import { WebDavBlobStore } from '../blobstore/webdav-blob-store.ts';
import type { Config } from '../config/load-config.ts';

export function openBlobStore(config: Config): BlobStore {
  const { type, fsRoot, s3, webdav, azure } = config.blobstore;
  if (type === 's3') {
    return new S3BlobStore({
      bucket: s3.bucket,
      region: s3.region,
      endpoint: s3.endpoint || undefined,
      forcePathStyle: s3.forcePathStyle,
      accessKeyId: s3.accessKeyId || undefined,
      secretAccessKey: s3.secretAccessKey || undefined,
      publicEndpoint: s3.publicEndpoint || undefined,
      presignExpirySeconds: s3.presignExpirySeconds,
      prefix: s3.prefix || undefined,
    });
  }
  if (type === 'webdav') {
    return new WebDavBlobStore({
      privateEndpoint: webdav.privateEndpoint,
      publicEndpoint: webdav.publicEndpoint,
      username: webdav.username,
      password: webdav.password,
      secret: webdav.secret,
      directoryKey: webdav.directoryKey,
      caCert: webdav.caCert ? readFileSync(webdav.caCert, 'utf8') : undefined,
      linkExpirySeconds: webdav.linkExpirySeconds,
    });
  }
  if (type === 'azure') {
    return new AzureBlobStore({
      accountName: azure.accountName,
      accountKey: azure.accountKey || undefined,
      sasToken: azure.sasToken || undefined,
      container: azure.container,
      prefix: azure.prefix || undefined,
      endpoint: azure.endpoint || undefined,
      sasExpirySeconds: azure.sasExpirySeconds,
    });
  }
  return new FsBlobStore({ root: fsRoot });
}
