/**
 * Cloud Controller's v3 errors (`errors/v2.yml`, `V3ErrorHasher`): handlers throw these, the server
 * renders `{"errors":[{"detail","title","code"}]}` with the matching status.
 */
export class CcError extends Error {
  readonly status: number;
  readonly code: number;
  readonly title: string;

  constructor(status: number, code: number, title: string, detail: string) {
    super(detail);
    this.status = status;
    this.code = code;
    this.title = title;
  }

  get body() {
    return { errors: [{ detail: this.message, title: this.title, code: this.code }] };
  }
}

export const notAuthenticated = () => new CcError(401, 10002, 'CF-NotAuthenticated', 'Authentication error');
export const invalidAuthToken = () => new CcError(401, 1000, 'CF-InvalidAuthToken', 'Invalid Auth Token');
export const notAuthorized = () => new CcError(403, 10003, 'CF-NotAuthorized', 'You are not authorized to perform the requested action');
/** "App not found", "Droplet not found"…: also what a resource the caller may not see answers. */
export const notFound = (resource: string) => new CcError(404, 10010, 'CF-ResourceNotFound', `${resource} not found`);
export const resourceNotFound = (detail: string) => new CcError(404, 10010, 'CF-ResourceNotFound', detail);
/** No route matches (Rails' routing error). */
export const unknownRequest = () => new CcError(404, 10000, 'CF-NotFound', 'Unknown request');
export const unprocessable = (detail: string) => new CcError(422, 10008, 'CF-UnprocessableEntity', detail);
/** `ApiError#message` joins an array argument with ", ". */
export const badQueryParameter = (messages: readonly string[]) =>
  new CcError(400, 10005, 'CF-BadQueryParameter', `The query parameter is invalid: ${messages.join(', ')}`);

/** What CC answers for an unexpected exception (`V3ErrorHasher::UNKNOWN_ERROR_HASH`). */
export const UNKNOWN_ERROR_BODY = { errors: [{ detail: 'An unknown error occurred.', title: 'UnknownError', code: 10001 }] };
/** The rate limiter's body (`RateLimitExceeded`, 10013). */
export const RATE_LIMIT_BODY = { errors: [{ detail: 'Rate Limit Exceeded', title: 'CF-RateLimitExceeded', code: 10013 }] };
