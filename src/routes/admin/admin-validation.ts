/**
 * The admin API's parameters as joi schemas, which hapi checks before a handler runs and the
 * OpenAPI document is generated from. Only known query parameters, each given at most once: a
 * typo (`?stat=failed`) is a 400 PARAMETER_INVALID naming the parameter rather than a silently
 * unfiltered list.
 */
import type { Lifecycle, RouteOptionsValidate } from '@hapi/hapi';
import Joi from 'joi';
import { RegistryError } from '../../errors/registry-error.ts';

/** CAPI v3's page size default; the maximum keeps one page one cheap query. */
export const DEFAULT_PER_PAGE = 50;
export const MAX_PER_PAGE = 500;
/** Keeps the rows skipped (page × per_page) an exact integer. */
const MAX_PAGE = 1_000_000_000;

/** Droplet guids: CAPI's, or the directory source's file names (`<guid>.tgz`). */
const GUID = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const SHA256_DIGEST = /^sha256:[0-9a-f]{64}$/;

export const dropletGuid = () => Joi.string().pattern(GUID).messages({ 'string.pattern.base': 'is not a droplet guid' });
/** An app guid (CAPI's, or the directory source's name-based one). */
export const appGuid = () => Joi.string().pattern(GUID).messages({ 'string.pattern.base': 'is not an app guid' });
export const digest = () => Joi.string().pattern(SHA256_DIGEST).messages({ 'string.pattern.base': 'must be a digest sha256:<64 lowercase hex digits>' });
export const oneOf = (choices: readonly string[]) => Joi.string().valid(...choices);

/** `page` (from 1) and `per_page` (1 to MAX_PER_PAGE), for every list. */
export const pageParameters = {
  page: Joi.number().integer().min(1).max(MAX_PAGE).default(1).description('Page number, from 1'),
  per_page: Joi.number().integer().min(1).max(MAX_PER_PAGE).default(DEFAULT_PER_PAGE).description('Results per page'),
};

/** hapi's `validate` for an admin route: these query parameters (none when not given) and path parameters. */
export function adminValidation(schemas: { query?: Joi.PartialSchemaMap; params?: Joi.PartialSchemaMap }): RouteOptionsValidate {
  return {
    query: Joi.object(schemas.query ?? {}),
    ...(schemas.params ? { params: Joi.object(schemas.params) } : {}),
    // Messages without the parameter's name: `refuseParameter` puts it first, as `name: why`.
    options: { errors: { label: false } },
    failAction: refuseParameter,
  };
}

/** The first thing wrong with the request's parameters, as PARAMETER_INVALID with `detail.parameter`. */
const refuseParameter: Lifecycle.Method = (request, _h, error) => {
  const [problem] = (error as Joi.ValidationError | undefined)?.details ?? [];
  if (!problem) throw new RegistryError('PARAMETER_INVALID', `invalid parameters: ${error?.message ?? 'unknown reason'}`);
  const name = String(problem.path[0] ?? problem.context?.key);
  const value: unknown = problem.context?.value;
  let why = problem.message;
  if (Array.isArray(value)) why = 'given more than once';
  else if (problem.type === 'object.unknown') {
    const schema = request.route.settings.validate?.query;
    const known = Joi.isSchema(schema) ? Object.keys((schema as Joi.ObjectSchema).describe().keys ?? {}) : [];
    why = `unknown query parameter; ${known.length === 0 ? 'this endpoint takes no query parameters' : `expected one of ${known.join(', ')}`}`;
  }
  const given = (typeof value === 'string' || typeof value === 'number') && problem.type !== 'object.unknown';
  throw new RegistryError('PARAMETER_INVALID', `${name}: ${why}`, { detail: given ? { parameter: name, value: String(value) } : { parameter: name } });
};
