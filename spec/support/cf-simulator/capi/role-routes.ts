/**
 * `GET /v3/roles` and `/v3/roles/:guid` (`roles_controller.rb`, `roles_list_message.rb`): who holds
 * which org and space roles. Filters `guids`, `types`, `user_guids`, `space_guids`,
 * `organization_guids` (ANDed, so a space filter leaves no org roles), whole-second `created_ats`/
 * `updated_ats`; `include=user,space,organization`; ordered by `created_at` unless told otherwise.
 * Global readers see every role, others the roles of spaces they can read and orgs they belong to.
 * Invalid parameters answer 422 CF-UnprocessableEntity: this controller calls `unprocessable!`.
 */
import type { Role } from '../foundation.ts';
import { notFound, unprocessable } from './errors.ts';
import { ordered } from './pagination.ts';
import type { Permissions } from './permissions.ts';
import { presentOrg, presentRole, presentSpace, presentUser } from './presenters.ts';
import { matchesTimestamps, parseQuery, type ParsedQuery, type QuerySpec } from './query.ts';
import { filterBy, listBody, ok, TIMESTAMP_COLUMNS, type CapiContext, type CapiRoute } from './routes.ts';

const INCLUDE = ['user', 'space', 'organization'];
const invalid = (messages: readonly string[]) => unprocessable(messages.join(', '));

export const roleRoutes: CapiRoute[] = [
  {
    name: 'GET /v3/roles',
    async handle(request, context) {
      const spec: QuerySpec = {
        lists: ['guids', 'types', 'user_guids', 'space_guids', 'organization_guids'],
        timestamps: ['created_ats', 'updated_ats'],
        include: INCLUDE,
        orderBy: ['created_at', 'updated_at'],
        invalid,
      };
      const query = parseQuery(request.search, spec);
      let roles = context.foundation.roles().filter((role) => readable(role, request.permissions));
      roles = filterBy(roles, query.list('guids'), (role) => role.guid);
      roles = filterBy(roles, query.list('types'), (role) => role.type);
      roles = filterBy(roles, query.list('user_guids'), (role) => role.userGuid);
      roles = filterBy(roles, query.list('space_guids'), (role) => role.spaceGuid);
      roles = filterBy(roles, query.list('organization_guids'), (role) => role.orgGuid);
      roles = roles.filter((role) => matchesTimestamps(role.createdAt, query.timestamps('created_ats')) && matchesTimestamps(role.updatedAt, query.timestamps('updated_ats')));
      // `RolesListMessage.from_params`: order_by defaults to created_at (ties: creation order).
      roles = ordered(roles, query.orderBy ? query : { ...query, orderBy: { column: 'created_at', descending: false } }, TIMESTAMP_COLUMNS);
      const { pagination, resources, page } = await listBody(roles, query, '/v3/roles', context, (role) => presentRole(role, context.base));
      return ok({ pagination, resources, ...included(page, query, context) });
    },
  },
  {
    name: 'GET /v3/roles/:guid',
    handle(request, context) {
      const query = parseQuery(request.search, { include: INCLUDE, invalid });
      const role = context.foundation.role(request.params.guid ?? '');
      if (!role || !readable(role, request.permissions)) throw notFound('Role');
      return ok({ ...presentRole(role, context.base), ...included([role], query, context) });
    },
  },
];

/** `readable_roles`: everything for global readers; else roles in readable spaces or in the caller's orgs. */
function readable(role: Role, permissions: Permissions): boolean {
  if (permissions.canReadGlobally()) return true;
  return role.spaceGuid !== null ? permissions.canReadSpace(role.spaceGuid) : role.orgGuid !== null && permissions.canSeeOrg(role.orgGuid);
}

/**
 * The include decorators: the page's distinct users (by creation), the spaces of its space roles
 * and the orgs of its org roles only (each by creation); every requested kind is present, if empty.
 */
function included(roles: readonly Role[], query: ParsedQuery, context: CapiContext): { included?: Record<string, unknown[]> } {
  if (query.include.length === 0) return {};
  const { foundation, uaa, base } = context;
  const result: Record<string, unknown[]> = {};
  const distinct = (guids: ReadonlyArray<string | null>) => new Set(guids.filter((guid): guid is string => guid !== null));
  if (query.include.includes('user')) {
    const guids = distinct(roles.map((role) => role.userGuid));
    const users = [...guids].flatMap((guid) => foundation.user(guid) ?? []);
    users.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.guid.localeCompare(b.guid));
    result.users = users.map((user) => presentUser(user, uaa.userById(user.guid), base));
  }
  if (query.include.includes('space')) {
    const guids = distinct(roles.map((role) => role.spaceGuid));
    result.spaces = foundation.spaces().filter((space) => guids.has(space.guid)).map((space) => presentSpace(space, base));
  }
  if (query.include.includes('organization')) {
    const guids = distinct(roles.map((role) => role.orgGuid));
    result.organizations = foundation.orgs().filter((org) => guids.has(org.guid)).map((org) => presentOrg(org, base));
  }
  return { included: result };
}
