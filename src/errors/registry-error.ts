/**
 * The registry's domain errors. Every module throws these; only `server/oci-error-translator.ts`
 * knows how they go on the wire (distribution's errcode registry, one descriptor per code).
 */

/**
 * Wire codes of the distribution spec, plus distribution's `UNAVAILABLE` extension and two the
 * admin API needs (`PARAMETER_INVALID`, `CONFLICT`), in the same error body.
 */
export type OciErrorCode =
  | 'BLOB_UNKNOWN'
  | 'DIGEST_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'MANIFEST_INVALID'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'SIZE_INVALID'
  | 'RANGE_INVALID'
  | 'PAGINATION_NUMBER_INVALID'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'UNSUPPORTED'
  | 'TOOMANYREQUESTS'
  | 'UNAVAILABLE'
  | 'PARAMETER_INVALID'
  | 'CONFLICT'
  | 'UNKNOWN';

interface ErrorDescriptor {
  readonly status: number;
  readonly message: string;
}

/** One place that says which HTTP status and default message each code has. */
export const ERROR_DESCRIPTORS: Readonly<Record<OciErrorCode, ErrorDescriptor>> = {
  BLOB_UNKNOWN: { status: 404, message: 'blob unknown to registry' },
  DIGEST_INVALID: { status: 400, message: 'provided digest did not match uploaded content' },
  MANIFEST_UNKNOWN: { status: 404, message: 'manifest unknown' },
  MANIFEST_INVALID: { status: 400, message: 'manifest invalid' },
  NAME_INVALID: { status: 400, message: 'invalid repository name' },
  NAME_UNKNOWN: { status: 404, message: 'repository name not known to registry' },
  SIZE_INVALID: { status: 400, message: 'provided length did not match content length' },
  RANGE_INVALID: { status: 416, message: 'requested range not satisfiable' },
  PAGINATION_NUMBER_INVALID: { status: 400, message: 'invalid number of results requested' },
  UNAUTHORIZED: { status: 401, message: 'authentication required' },
  DENIED: { status: 403, message: 'requested access to the resource is denied' },
  UNSUPPORTED: { status: 405, message: 'the operation is unsupported' },
  TOOMANYREQUESTS: { status: 429, message: 'too many requests' },
  UNAVAILABLE: { status: 503, message: 'service unavailable' },
  PARAMETER_INVALID: { status: 400, message: 'invalid request parameter' },
  CONFLICT: { status: 409, message: 'the request conflicts with the state of the resource' },
  UNKNOWN: { status: 500, message: 'unknown error' },
};

/** A failure the client can act on; `detail` goes into the error body as is. */
export class RegistryError extends Error {
  readonly code: OciErrorCode;
  readonly detail: unknown;
  /** Seconds for `Retry-After` (429, 503). */
  readonly retryAfter: number | undefined;
  /** Headers the answer needs, e.g. the `WWW-Authenticate` challenge of a 401. */
  readonly headers: Readonly<Record<string, string>>;
  /** A status other than the code's own, where the protocol asks for one (413 for a body over the limit). */
  readonly #status: number | undefined;

  constructor(
    code: OciErrorCode,
    message?: string,
    options: { detail?: unknown; retryAfter?: number; headers?: Record<string, string>; status?: number; cause?: unknown } = {},
  ) {
    super(message ?? ERROR_DESCRIPTORS[code].message, { cause: options.cause });
    this.name = 'RegistryError';
    this.code = code;
    this.detail = options.detail;
    this.retryAfter = options.retryAfter;
    this.headers = options.headers ?? {};
    this.#status = options.status;
  }

  get status(): number {
    return this.#status ?? ERROR_DESCRIPTORS[this.code].status;
  }
}

/**
 * A droplet that cannot become an image layer (escaping paths, whiteouts, corrupt gzip, …).
 * Thrown by `conversion/`; the conversion is recorded as failed with this message.
 */
export class InvalidDropletError extends Error {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = 'InvalidDropletError';
  }
}
