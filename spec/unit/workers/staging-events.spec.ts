/**
 * Reading Cloud Controller's staging events for the pre-warmer, on a stand-in CAPI reader: what is
 * asked (both event types, from a whole second, oldest first), and how each audit event's shape is
 * read (the droplet guid lives in a different place per event type; anything else names none).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { listStagingEvents, newestStagingEventTime, type CapiReader } from '../../../src/workers/staging-events.ts';

interface Asked {
  readonly how: 'get' | 'listFirstPages';
  readonly path: string;
  readonly params: Record<string, string> | undefined;
}

/** A reader answering every list with `resources` (and `complete`), every get with `page`. */
function capiReader(answers: { resources?: unknown[]; complete?: boolean; page?: unknown }): CapiReader & { asked: Asked[] } {
  const asked: Asked[] = [];
  const reader = {
    asked,
    get: async (path: string, params?: Record<string, string>) => {
      asked.push({ how: 'get', path, params });
      return answers.page ?? null;
    },
    list: async () => assert.fail('the whole list is never read'),
    listFirstPages: async (path: string, params?: Record<string, string>) => {
      asked.push({ how: 'listFirstPages', path, params });
      return { resources: answers.resources ?? [], included: {}, complete: answers.complete ?? true };
    },
  };
  return reader as unknown as CapiReader & { asked: Asked[] };
}

/** An audit event as `GET /v3/audit_events` presents it. */
function auditEvent(guid: string, type: string, createdAt: string, data: unknown, appGuid = 'app-guid-1'): unknown {
  return { guid, type, created_at: createdAt, updated_at: createdAt, actor: { guid: 'user', type: 'user', name: 'dev' }, target: { guid: appGuid, type: 'app', name: 'web' }, data, space: { guid: 'space' }, organization: { guid: 'org' } };
}

describe('staging events', () => {
  describe('listing them since a second', () => {
    it('asks for builds staged and droplets mapped from that whole second on, oldest first (CC refuses fractions)', async () => {
      const capi = capiReader({});
      await listStagingEvents(capi, new Date('2025-03-01T09:00:07.999Z'));
      assert.deepEqual(capi.asked, [
        {
          how: 'listFirstPages',
          path: '/v3/audit_events',
          params: { types: 'audit.app.build.staged,audit.app.droplet.mapped', 'created_ats[gte]': '2025-03-01T09:00:07Z', order_by: 'created_at' },
        },
      ]);
    });

    it("finds the droplet of a staged build in data.droplet_guid, and of a mapped droplet in data.request.droplet_guid", async () => {
      const capi = capiReader({
        resources: [
          auditEvent('e1', 'audit.app.build.staged', '2025-03-01T09:00:01Z', { droplet_guid: 'droplet-staged', buildpacks: [] }, 'app-1'),
          auditEvent('e2', 'audit.app.droplet.mapped', '2025-03-01T09:00:02Z', { request: { droplet_guid: 'droplet-mapped' } }, 'app-2'),
        ],
      });
      const { events, complete } = await listStagingEvents(capi, new Date('2025-03-01T09:00:00Z'));
      assert.equal(complete, true);
      assert.deepEqual(events, [
        { guid: 'e1', type: 'audit.app.build.staged', createdAt: new Date('2025-03-01T09:00:01Z'), appGuid: 'app-1', dropletGuid: 'droplet-staged' },
        { guid: 'e2', type: 'audit.app.droplet.mapped', createdAt: new Date('2025-03-01T09:00:02Z'), appGuid: 'app-2', dropletGuid: 'droplet-mapped' },
      ]);
    });

    it('names no droplet for an event of a shape it does not know', async () => {
      const shapes = [
        auditEvent('mapped-without-request', 'audit.app.droplet.mapped', '2025-03-01T09:00:01Z', { droplet_guid: 'in-the-wrong-place' }),
        auditEvent('staged-in-request', 'audit.app.build.staged', '2025-03-01T09:00:01Z', { request: { droplet_guid: 'in-the-wrong-place' } }),
        auditEvent('no-data', 'audit.app.build.staged', '2025-03-01T09:00:01Z', null),
        auditEvent('empty-guid', 'audit.app.build.staged', '2025-03-01T09:00:01Z', { droplet_guid: '' }),
        auditEvent('number-guid', 'audit.app.droplet.mapped', '2025-03-01T09:00:01Z', { request: { droplet_guid: 42 } }),
      ];
      const { events } = await listStagingEvents(capiReader({ resources: shapes }), new Date(0));
      assert.deepEqual(
        events.map((event) => [event.guid, event.dropletGuid]),
        shapes.map((shape) => [(shape as { guid: string }).guid, null]),
      );
    });

    it('keeps the order Cloud Controller listed them in, and says when more follow', async () => {
      const resources = ['c', 'a', 'b'].map((guid, i) => auditEvent(guid, 'audit.app.build.staged', `2025-03-01T09:00:0${i}Z`, { droplet_guid: `d-${guid}` }));
      const { events, complete } = await listStagingEvents(capiReader({ resources, complete: false }), new Date(0));
      assert.deepEqual(events.map((event) => event.guid), ['c', 'a', 'b']);
      assert.equal(complete, false);
    });

    it('reads a timestamp with a fraction as its whole second', async () => {
      const { events } = await listStagingEvents(capiReader({ resources: [auditEvent('e', 'audit.app.build.staged', '2025-03-01T09:00:05.731Z', { droplet_guid: 'd' })] }), new Date(0));
      assert.deepEqual(events[0]?.createdAt, new Date('2025-03-01T09:00:05Z'));
    });
  });

  describe("the newest one's time", () => {
    it("is asked as one event, newest first, and is that event's whole second", async () => {
      const capi = capiReader({ page: { resources: [auditEvent('newest', 'audit.app.droplet.mapped', '2025-03-01T09:12:34.500Z', {})] } });
      assert.deepEqual(await newestStagingEventTime(capi), new Date('2025-03-01T09:12:34Z'));
      assert.deepEqual(capi.asked, [
        { how: 'get', path: '/v3/audit_events', params: { types: 'audit.app.build.staged,audit.app.droplet.mapped', order_by: '-created_at', per_page: '1' } },
      ]);
    });

    it('is undefined when Cloud Controller has no staging event at all', async () => {
      assert.equal(await newestStagingEventTime(capiReader({ page: { resources: [] } })), undefined);
      assert.equal(await newestStagingEventTime(capiReader({ page: null })), undefined);
    });
  });
});
