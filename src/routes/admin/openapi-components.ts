/**
 * The parts of the admin API's OpenAPI document that are not in its routes: the bodies its
 * operations answer with, its error answers and its security scheme, and the helpers routes use
 * to declare their responses.
 */

export const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const nullable = (type: string, extra: Record<string, unknown> = {}) => ({ type: [type, 'null'], ...extra });
export const json = (schema: unknown) => ({ 'application/json': { schema } });
export const answer = (description: string, schema: unknown) => ({ description, content: json(schema) });
/** The error answers of an operation: 400, 401 and 403 always, and the ones named. */
export const errors = (...names: Array<'NotFound' | 'Conflict' | 'Unavailable'>) =>
  Object.fromEntries([
    ['400', { $ref: '#/components/responses/BadRequest' }],
    ['401', { $ref: '#/components/responses/Unauthorized' }],
    ['403', { $ref: '#/components/responses/Forbidden' }],
    ...names.map((name) => [{ NotFound: '404', Conflict: '409', Unavailable: '503' }[name], { $ref: `#/components/responses/${name}` }]),
  ]);
/** One page of a list of `item`s, in the CAPI envelope. */
export const listOf = (item: string) => ({ type: 'object', required: ['pagination', 'resources'], properties: { pagination: ref('Pagination'), resources: { type: 'array', items: ref(item) } } });
export const DIGEST = { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' };
const TIME = { type: 'string', format: 'date-time' };
const href = { type: 'object', properties: { href: { type: 'string', format: 'uri' } } };

export const ADMIN_COMPONENTS = {
  securitySchemes: {
    uaaAdmin: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A UAA access token (e.g. `cf oauth-token`) carrying ADMIN_SCOPE' },
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
        kind: { enum: ['rootfs', 'foundation', 'droplet', 'lifecycle'] },
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
        layers: {
          type: 'object',
          description: 'The layers by part, bottom to top: the stack release tarball, what the foundation adds (trusted CAs; null when nothing), the droplet (one per buildpack deps directory and one for the rest, or one; empty until ready), the lifecycle',
          properties: { stack: DIGEST, foundation: nullable('string'), droplet: { type: 'array', items: DIGEST }, lifecycle: DIGEST },
        },
        base_current: { type: 'boolean', description: 'The image is on the base new images of its stack are built on now; false: its next pull by tag gets a rebased image, while this one stays pullable by digest until garbage collection' },
        bytes: {
          type: 'object',
          properties: { total: nullable('integer', { description: 'Config and layers, compressed; null until ready' }), droplet_layers: nullable('integer', { description: "The droplet's layers, compressed; null until ready" }) },
        },
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
        kind: { enum: ['rootfs', 'foundation', 'lifecycle'], description: "rootfs: a stack's tarball; foundation: a stack's customized rootfs (what the foundation adds); lifecycle" },
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
              reason: { enum: ['droplet-deleted', 'droplet-expired', 'not-pulled', 'failed', 'abandoned', 'over-budget'] },
            },
          },
        },
        blobs_removed: { type: 'array', items: { type: 'object', properties: { digest: DIGEST, size: { type: 'integer' }, media_type: { type: 'string' } } } },
        bytes_freed: { type: 'integer' },
        blobs_marked: { type: 'integer', description: 'Found unreferenced for the first time; removed after the grace period' },
        blobs_pending: { type: 'integer', description: 'Unreferenced, still within the grace period' },
        blobs_deferred: { type: 'integer', description: 'Past the grace period but kept for now: a conversion was in flight' },
        lookup_failures: { type: 'integer', description: 'Droplets whose existence could not be checked (their images were kept)' },
        storage: {
          type: ['object', 'null'],
          description: 'The storage budget as the run found it; null without one',
          properties: {
            budget_bytes: { type: 'integer' },
            used_bytes: { type: 'integer', description: 'Bytes of every blob when the run started' },
            over_budget: { type: 'boolean', description: 'At or over the budget: space freed down to target_bytes, evicting the least recently pulled images (reason over-budget) if need be' },
            target_bytes: { type: 'integer', description: '90 % of the budget' },
            blobs_removed_early: { type: 'integer', description: 'Blobs among blobs_removed deleted before their grace period' },
          },
        },
      },
    },
    StorageUsage: {
      type: 'object',
      properties: {
        used_bytes: { type: 'integer', description: "Bytes of the registry's blobs, unreferenced ones within the garbage collection grace period included" },
        blob_count: { type: 'integer' },
        budget_bytes: nullable('integer', { description: 'STORAGE_BUDGET_BYTES; null: no budget' }),
        available_bytes: nullable('integer', { description: 'What conversions may still write before the budget is reached; null: no budget' }),
        over_budget: { type: 'boolean', description: 'true: conversions are refused (503) until garbage collection has made room' },
      },
    },
  },
};
