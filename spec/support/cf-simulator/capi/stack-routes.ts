/** `GET /v3/stacks` (`names`): readable by every authenticated caller. */
import { ordered } from './pagination.ts';
import { presentStack } from './presenters.ts';
import { parseQuery } from './query.ts';
import { filterBy, listBody, ok, type CapiRoute } from './routes.ts';

export const stackRoutes: CapiRoute[] = [
  {
    name: 'GET /v3/stacks',
    async handle(request, context) {
      const query = parseQuery(request.search, { lists: ['names'], orderBy: ['created_at', 'updated_at', 'name'] });
      let stacks = filterBy(context.foundation.stacks(), query.list('names'), (stack) => stack.name);
      stacks = ordered(stacks, query, {
        created_at: (stack) => stack.createdAt.getTime(),
        updated_at: (stack) => stack.createdAt.getTime(),
        name: (stack) => stack.name,
      });
      const { pagination, resources } = await listBody(stacks, query, '/v3/stacks', context, (stack) => presentStack(stack, context.base));
      return ok({ pagination, resources });
    },
  },
];
