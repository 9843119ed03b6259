/**
 * The admin API's OpenAPI 3.1 document, generated from its route definitions: paths and methods
 * from the routes, operation ids and summaries from hapi's `id` and `description`, parameters
 * from their joi schemas, responses from each route's `plugins.openapi`. Served at
 * `GET /admin/openapi.json` without authentication: it describes the API, it opens nothing.
 */
import type { RouteOptions, ServerRoute } from '@hapi/hapi';
import Joi from 'joi';
import { ADMIN_COMPONENTS, json } from './openapi-components.ts';

/** What a route declares for its operation beyond what hapi and its joi schemas say. */
export interface OpenApiOperation {
  readonly responses: Readonly<Record<string, unknown>>;
  /** `[]`: the operation needs no token. */
  readonly security?: readonly unknown[];
}

declare module '@hapi/hapi' {
  interface PluginSpecificConfiguration {
    openapi?: OpenApiOperation;
  }
}

const INFO = {
  title: 'droplet-registry admin API',
  version: '1',
  description:
    'What the registry converted, is converting and failed to convert; its layers and imported rootfs versions; converting again, forgetting images, garbage collection. Every operation but this document needs a UAA token with ADMIN_SCOPE (default cloud_controller.admin). Lists are paged like Cloud Controller v3: page, per_page, and pagination.next.href to follow.',
};

/** `routes` and the route serving their document (which describes itself too). */
export function withOpenApiDocument(routes: readonly ServerRoute[]): ServerRoute[] {
  const documentRoute: ServerRoute = {
    method: 'GET',
    path: '/admin/openapi.json',
    options: {
      id: 'getOpenApi',
      description: 'This document',
      plugins: { openapi: { security: [], responses: { '200': { description: 'The OpenAPI 3.1 document', content: json({ type: 'object' }) } } } },
    },
    handler: () => document,
  };
  const all = [...routes, documentRoute];
  const document = openApiDocument(all);
  return all;
}

/** The document of these routes; each needs an `id`, a `description` and `plugins.openapi`. */
export function openApiDocument(routes: readonly ServerRoute[]) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const method = String(route.method).toLowerCase();
    const options = route.options as RouteOptions | undefined;
    const declared = options?.plugins?.openapi;
    if (!options?.id || !options.description || !declared) throw new Error(`${method.toUpperCase()} ${route.path} needs an id, a description and plugins.openapi to be documented`);
    const parameters = [...parametersOf('path', options.validate?.params), ...parametersOf('query', options.validate?.query)];
    paths[route.path] = {
      ...paths[route.path],
      [method]: {
        operationId: options.id,
        summary: options.description,
        ...(declared.security ? { security: declared.security } : {}),
        ...(parameters.length > 0 ? { parameters } : {}),
        responses: declared.responses,
      },
    };
  }
  return { openapi: '3.1.0', info: INFO, security: [{ uaaAdmin: [] }], paths, components: ADMIN_COMPONENTS };
}

/** What joi's `describe()` says of one parameter, as far as the admin schemas use it. */
interface ParameterDescription {
  readonly type: string;
  readonly flags?: { readonly description?: string; readonly default?: unknown; readonly only?: boolean; readonly presence?: string };
  readonly allow?: readonly unknown[];
  readonly rules?: ReadonlyArray<{ readonly name: string; readonly args?: Readonly<Record<string, unknown>> }>;
}

function parametersOf(location: 'path' | 'query', schema: unknown): Array<Record<string, unknown>> {
  if (!Joi.isSchema(schema)) return [];
  const keys = ((schema as Joi.ObjectSchema).describe().keys ?? {}) as Record<string, ParameterDescription>;
  return Object.entries(keys).map(([name, parameter]) => ({
    name,
    in: location,
    required: location === 'path' || parameter.flags?.presence === 'required',
    ...(parameter.flags?.description ? { description: parameter.flags.description } : {}),
    schema: schemaOf(name, parameter),
  }));
}

/** The joi rules `schemaOf` translates; any other would be left out of the document, so it refuses them. */
const DOCUMENTED_RULES = new Set(['pattern', 'min', 'max', 'integer']);

/** The JSON Schema of a string, number or boolean parameter: its enum, pattern, bounds and default. */
function schemaOf(name: string, parameter: ParameterDescription): Record<string, unknown> {
  const rules = new Map((parameter.rules ?? []).map((rule) => [rule.name, rule.args ?? {}]));
  const undocumented = [...rules.keys()].filter((rule) => !DOCUMENTED_RULES.has(rule));
  if (undocumented.length > 0) throw new Error(`parameter ${name}: no OpenAPI schema for joi rule ${undocumented.join(', ')}`);
  const bound = (rule: string) => rules.get(rule)?.limit;
  const schema: Record<string, unknown> = {};
  switch (parameter.type) {
    case 'string':
      schema.type = 'string';
      if (parameter.flags?.only) schema.enum = parameter.allow;
      if (rules.has('pattern')) schema.pattern = String(rules.get('pattern')?.regex).replace(/^\/(.*)\/[a-z]*$/s, '$1');
      if (rules.has('min')) schema.minLength = bound('min');
      if (rules.has('max')) schema.maxLength = bound('max');
      break;
    case 'number':
      schema.type = rules.has('integer') ? 'integer' : 'number';
      if (rules.has('min')) schema.minimum = bound('min');
      if (rules.has('max')) schema.maximum = bound('max');
      break;
    case 'boolean':
      schema.type = 'boolean';
      break;
    default:
      throw new Error(`parameter ${name}: no OpenAPI schema for joi type ${parameter.type}`);
  }
  if (parameter.flags?.default !== undefined) schema.default = parameter.flags.default;
  return schema;
}
