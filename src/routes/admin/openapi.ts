/**
 * The admin API described as an OpenAPI 3.1 document, served at `GET /admin/openapi.json` (without
 * authentication: it describes the API, it opens nothing) so operators can generate clients or
 * browse it. A test checks that it lists exactly the registered `/admin` routes.
 */
import type { ServerRoute } from '@hapi/hapi';
import { DEFAULT_PER_PAGE, MAX_PER_PAGE } from './admin-params.ts';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const nullable = (type: string, extra: Record<string, unknown> = {}) => ({ type: [type, 'null'], ...extra });
const json = (schema: unknown) => ({ 'application/json': { schema } });
const answer = (description: string, schema: unknown) => ({ description, content: json(schema) });
const errors = (...names: Array<'BadRequest' | 'NotFound' | 'Conflict' | 'Unavailable'>) =>
  Object.fromEntries([
    ['400', { $ref: '#/components/responses/BadRequest' }],
    ['401', { $ref: '#/components/responses/Unauthorized' }],
    ['403', { $ref: '#/components/responses/Forbidden' }],
    ...names.filter((name) => name !== 'BadRequest').map((name) => [{ NotFound: '404', Conflict: '409', Unavailable: '503' }[name], { $ref: `#/components/responses/${name}` }]),
  ]);
const query = (name: string, description: string, schema: Record<string, unknown>) => ({ name, in: 'query', required: false, description, schema });
const path = (name: string, description: string, schema: Record<string, unknown>) => ({ name, in: 'path', required: true, description, schema });
const PAGE = [{ $ref: '#/components/parameters/page' }, { $ref: '#/components/parameters/per_page' }];
const DIGEST = { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' };
const GUID = { type: 'string', pattern: '^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$' };
const TIME = { type: 'string', format: 'date-time' };
const list = (item: string) => ({ type: 'object', required: ['pagination', 'resources'], properties: { pagination: ref('Pagination'), resources: { type: 'array', items: ref(item) } } });
const href = { type: 'object', properties: { href: { type: 'string', format: 'uri' } } };

/** The document; `paths` keys are hapi's route paths, which OpenAPI's path templates match. */
export const ADMIN_OPENAPI = {
  openapi: '3.1.0',
  info: {
    title: 'droplet-registry admin API',
    version: '1',
    description:
      'What the registry converted, is converting and failed to convert; its layers and imported rootfs versions; converting again, forgetting images, garbage collection. Every operation but this document needs a UAA token with ADMIN_SCOPE (default cloud_controller.admin). Lists are paged like Cloud Controller v3: page, per_page, and pagination.next.href to follow.',
  },
  security: [{ uaaAdmin: [] }],
  paths: {
    '/admin/layers': {
      get: {
        operationId: 'listLayers',
        summary: 'Layers (rootfs, droplet, lifecycle), newest first. Does not ask the blobstore whether each blob is present: see getLayer.',
        parameters: [query('kind', 'Only layers of this kind', { enum: ['rootfs', 'droplet', 'lifecycle'] }), ...PAGE],
        responses: { '200': answer('One page of layers', list('Layer')), ...errors('BadRequest') },
      },
    },
    '/admin/layers/{digest}': {
      get: {
        operationId: 'getLayer',
        summary: 'One layer, whether its blob is in the blobstore, and the droplets whose images use it',
        parameters: [path('digest', 'The layer blob digest', DIGEST)],
        responses: { '200': answer('The layer', ref('LayerDetail')), ...errors('BadRequest', 'NotFound', 'Unavailable') },
      },
    },
    '/admin/images': {
      get: {
        operationId: 'listImages',
        summary: 'Images, newest first',
        parameters: [
          query('app_guid', 'Only images of this app', GUID),
          query('droplet_guid', 'Only images of this droplet', GUID),
          query('state', 'Only images in this state', { enum: ['pending', 'converting', 'ready', 'failed'] }),
          query('layer_digest', 'Only images whose manifest references this blob', DIGEST),
          ...PAGE,
        ],
        responses: { '200': answer('One page of images', list('Image')), ...errors('BadRequest') },
      },
    },
    '/admin/images/{droplet_guid}': {
      get: {
        operationId: 'getDropletImages',
        summary: "A droplet's images (one per rootfs and lifecycle it was built with), newest first",
        parameters: [path('droplet_guid', 'The droplet guid', GUID)],
        responses: { '200': answer("The droplet's images", ref('DropletImages')), ...errors('BadRequest', 'NotFound') },
      },
      delete: {
        operationId: 'deleteDropletImages',
        summary: "Removes the droplet's image rows (their blob references and conversion records go with them; blobs are left to garbage collection). The next pull converts the droplet again.",
        parameters: [path('droplet_guid', 'The droplet guid', GUID)],
        responses: {
          '200': answer('The images removed', {
            type: 'object',
            properties: {
              droplet_guid: { type: 'string' },
              images_removed: { type: 'array', items: { type: 'object', properties: { id: { type: 'integer' }, state: { type: 'string' }, manifest_digest: nullable('string') } } },
            },
          }),
          ...errors('BadRequest', 'NotFound', 'Conflict'),
        },
      },
    },
    '/admin/images/{droplet_guid}/convert': {
      post: {
        operationId: 'convertDroplet',
        summary:
          'Converts the droplet (looked up in Cloud Controller or the droplets folder) on the configured rootfs and lifecycle, in the background: a failed image gets a new attempt, retryable or not; a ready one only with force=true. 409 when the image is ready (without force) or the droplet cannot become an image here.',
        parameters: [path('droplet_guid', 'The droplet guid', GUID), query('force', 'Convert a ready image again', { enum: ['true', 'false'], default: 'false' })],
        responses: {
          '202': {
            description: 'Conversion requested (or already under way); Location is the droplet images resource to poll',
            headers: { Location: { schema: { type: 'string', format: 'uri' } } },
            content: json({
              allOf: [ref('DropletImages'), { type: 'object', properties: { conversion: { enum: ['requested', 'already-converting'] } } }],
            }),
          },
          ...errors('BadRequest', 'NotFound', 'Conflict', 'Unavailable'),
        },
      },
    },
    '/admin/conversions': {
      get: {
        operationId: 'listConversions',
        summary: 'Conversion attempts, most recently started first: running ones and how recent ones ended',
        parameters: [query('state', 'Only attempts in this state', { enum: ['running', 'succeeded', 'failed'] }), query('droplet_guid', 'Only attempts for this droplet', GUID), ...PAGE],
        responses: { '200': answer('One page of conversions', list('Conversion')), ...errors('BadRequest') },
      },
    },
    '/admin/rootfs': {
      get: {
        operationId: 'listImportedRootfs',
        summary: 'Rootfs and lifecycle files imported as layers (one per version), newest import first; current says which ones new images are built on',
        parameters: [query('kind', 'Only files of this kind', { enum: ['rootfs', 'lifecycle'] }), ...PAGE],
        responses: { '200': answer('One page of imported files', list('ImportedLayer')), ...errors('BadRequest') },
      },
    },
    '/admin/gc': {
      post: {
        operationId: 'collectGarbage',
        summary: 'Runs garbage collection now; a dry run (nothing removed, the report says what would be) unless dry_run=false',
        parameters: [query('dry_run', 'false: really remove', { enum: ['true', 'false'], default: 'true' })],
        responses: { '200': answer('What was (or would be) removed', ref('GcReport')), ...errors('BadRequest', 'Unavailable') },
      },
    },
    '/admin/openapi.json': {
      get: {
        operationId: 'getOpenApi',
        summary: 'This document',
        security: [],
        responses: { '200': { description: 'The OpenAPI 3.1 document', content: json({ type: 'object' }) } },
      },
    },
  },
  components: {
    securitySchemes: {
      uaaAdmin: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A UAA access token (e.g. `cf oauth-token`) carrying ADMIN_SCOPE' },
    },
    parameters: {
      page: { name: 'page', in: 'query', required: false, description: 'Page number, from 1', schema: { type: 'integer', minimum: 1, default: 1 } },
      per_page: { name: 'per_page', in: 'query', required: false, description: 'Results per page', schema: { type: 'integer', minimum: 1, maximum: MAX_PER_PAGE, default: DEFAULT_PER_PAGE } },
    },
    responses: {
      BadRequest: answer('An unknown, repeated or invalid parameter (code PARAMETER_INVALID, detail.parameter names it)', ref('Errors')),
      Unauthorized: answer('No valid UAA token (code UNAUTHORIZED)', ref('Errors')),
      Forbidden: answer('A valid UAA token without ADMIN_SCOPE (code DENIED)', ref('Errors')),
      NotFound: answer('No such layer (BLOB_UNKNOWN), image or droplet (MANIFEST_UNKNOWN)', ref('Errors')),
      Conflict: answer('The resource is in a state that forbids the request (code CONFLICT; the message says why)', ref('Errors')),
      Unavailable: answer('A system the answer needs (Cloud Controller, the blobstore, garbage collection) is not available (code UNAVAILABLE)', ref('Errors')),
    },
    schemas: {
      Errors: {
        type: 'object',
        required: ['errors'],
        properties: { errors: { type: 'array', items: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' }, detail: {} } } } },
      },
      Pagination: {
        type: 'object',
        properties: { total_results: { type: 'integer' }, total_pages: { type: 'integer' }, first: href, last: href, next: { oneOf: [href, { type: 'null' }] }, previous: { oneOf: [href, { type: 'null' }] } },
      },
      Layer: {
        type: 'object',
        properties: {
          digest: DIGEST,
          kind: { enum: ['rootfs', 'droplet', 'lifecycle'] },
          media_type: { type: 'string' },
          size: { type: 'integer', description: 'Compressed size in bytes, as served' },
          uncompressed_size: { type: 'integer' },
          diff_id: DIGEST,
          created_at: TIME,
          last_pulled_at: nullable('string', { format: 'date-time' }),
          pull_count: { type: 'integer' },
          unreferenced_since: nullable('string', { format: 'date-time', description: 'Since when garbage collection has found no image referencing it' }),
          images: { type: 'object', properties: { count: { type: 'integer', description: 'Ready images whose manifest references the layer' }, href: { type: 'string', format: 'uri' } } },
          links: { type: 'object', properties: { self: href } },
        },
      },
      LayerDetail: {
        allOf: [
          ref('Layer'),
          {
            type: 'object',
            properties: {
              present: { type: 'boolean', description: 'Whether the blobstore has the blob' },
              images: { type: 'object', properties: { droplet_guids: { type: 'array', items: { type: 'string' }, description: 'The first 100' } } },
            },
          },
        ],
      },
      Image: {
        type: 'object',
        properties: {
          id: { type: 'integer' },
          droplet_guid: { type: 'string' },
          app_guid: { type: 'string' },
          stack: { type: 'string' },
          state: {
            enum: ['pending', 'converting', 'ready', 'failed'],
            description: 'pending: a conversion is wanted but no instance holds its lease (requested and waiting for a conversion slot, or its instance died; the next attempt takes it over)',
          },
          manifest_digest: nullable('string'),
          config_digest: nullable('string'),
          layers: { type: 'object', properties: { rootfs: DIGEST, droplet: nullable('string'), lifecycle: DIGEST } },
          bytes: { type: 'object', properties: { total: nullable('integer', { description: 'Config and layers, compressed; null until ready' }), droplet_layer: nullable('integer') } },
          error: nullable('string', { description: 'Why the last conversion failed' }),
          retryable: { type: 'boolean', description: 'false: the droplet itself is at fault; pulls do not retry it (POST convert does)' },
          attempts: { type: 'integer' },
          instance: nullable('string', { description: 'Registry instance converting (or that last converted) it' }),
          lease: { type: 'object', properties: { held: { type: 'boolean' }, expires_at: nullable('string', { format: 'date-time' }) } },
          created_at: TIME,
          updated_at: TIME,
          converted_at: nullable('string', { format: 'date-time' }),
          conversion_ms: nullable('integer'),
          last_pulled_at: nullable('string', { format: 'date-time' }),
          pull_count: { type: 'integer' },
          links: { type: 'object', properties: { self: href, convert: href, conversions: href } },
        },
      },
      DropletImages: {
        type: 'object',
        properties: { droplet_guid: { type: 'string' }, app_guid: { type: 'string' }, images: { type: 'array', items: ref('Image') } },
      },
      Conversion: {
        type: 'object',
        properties: {
          id: { type: 'string', format: 'uuid' },
          image_id: { type: 'integer' },
          droplet_guid: { type: 'string' },
          app_guid: { type: 'string' },
          instance: { type: 'string' },
          state: { enum: ['running', 'succeeded', 'failed'] },
          error: nullable('string'),
          started_at: TIME,
          finished_at: nullable('string', { format: 'date-time' }),
          duration_ms: nullable('integer'),
          bytes_in: nullable('integer', { description: 'Compressed droplet bytes read' }),
          bytes_out: nullable('integer', { description: 'Compressed droplet layer bytes written' }),
          links: { type: 'object', properties: { image: href } },
        },
      },
      ImportedLayer: {
        type: 'object',
        properties: {
          id: { type: 'integer' },
          kind: { enum: ['rootfs', 'lifecycle'] },
          name: { type: 'string', description: "The stack, or 'lifecycle'" },
          path: { type: 'string' },
          file_size: { type: 'integer' },
          file_mtime: TIME,
          layer_digest: DIGEST,
          layer_size: nullable('integer'),
          imported_at: TIME,
          current: { type: 'boolean', description: 'New images are built on this layer' },
          links: { type: 'object', properties: { layer: href } },
        },
      },
      GcReport: {
        type: 'object',
        properties: {
          dry_run: { type: 'boolean' },
          started_at: TIME,
          duration_ms: { type: 'integer' },
          images_removed: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                image_id: { type: 'integer' },
                droplet_guid: { type: 'string' },
                app_guid: { type: 'string' },
                state: { type: 'string' },
                manifest_digest: nullable('string'),
                reason: { enum: ['droplet-deleted', 'droplet-expired', 'not-pulled', 'failed', 'abandoned'] },
              },
            },
          },
          blobs_removed: { type: 'array', items: { type: 'object', properties: { digest: DIGEST, size: { type: 'integer' }, media_type: { type: 'string' } } } },
          bytes_freed: { type: 'integer' },
          blobs_marked: { type: 'integer', description: 'Found unreferenced for the first time; removed after the grace period' },
          blobs_pending: { type: 'integer', description: 'Unreferenced, still within the grace period' },
          blobs_deferred: { type: 'integer', description: 'Past the grace period but kept for now: a conversion was in flight' },
          lookup_failures: { type: 'integer', description: 'Droplets whose existence could not be checked (their images were kept)' },
        },
      },
    },
  },
} as const;

export function openApiRoute(): ServerRoute {
  return { method: 'GET', path: '/admin/openapi.json', handler: () => ADMIN_OPENAPI };
}
