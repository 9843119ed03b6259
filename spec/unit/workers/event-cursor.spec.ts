/**
 * How the pre-warmer's cursor moves over a round of audit events (oldest first, whole seconds,
 * several per second): it stops at the oldest event not dealt with, so that one is tried again,
 * and remembers what was dealt with from that second on, so nothing is done twice.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PrewarmCursor } from '../../../src/db/queries/prewarm-cursor.ts';
import { advanceCursor } from '../../../src/workers/event-cursor.ts';
import type { StagingEvent } from '../../../src/workers/staging-events.ts';

const at = (second: number): Date => new Date(Date.UTC(2025, 2, 1, 9, 0, second));

function event(guid: string, second: number): StagingEvent {
  return { guid, type: 'audit.app.build.staged', createdAt: at(second), appGuid: `app-${guid}`, dropletGuid: `droplet-${guid}` };
}

const START: PrewarmCursor = { resumeAt: at(0), handledGuids: [] };

describe('advancing the pre-warmer cursor', () => {
  it('stays where it is after a round that read nothing', () => {
    const cursor: PrewarmCursor = { resumeAt: at(5), handledGuids: ['e1'] };
    assert.deepEqual(advanceCursor(cursor, [], new Set(['e1'])), cursor);
  });

  it("moves to the newest event's second when everything was dealt with, remembering that second's events", () => {
    const events = [event('a', 1), event('b', 2), event('c', 4), event('d', 4)];
    assert.deepEqual(advanceCursor(START, events, new Set(['a', 'b', 'c', 'd'])), { resumeAt: at(4), handledGuids: ['c', 'd'] });
  });

  it('stops at the oldest event not dealt with, remembering the events dealt with from that second on', () => {
    const events = [event('a', 1), event('b', 2), event('failed', 2), event('c', 2), event('d', 3), event('e', 3)];
    const handled = new Set(['a', 'b', 'c', 'd', 'e']);
    assert.deepEqual(advanceCursor(START, events, handled), { resumeAt: at(2), handledGuids: ['b', 'c', 'd', 'e'] });
  });

  it('stays at the first event when that one failed, and still remembers the later ones handled', () => {
    const events = [event('failed', 1), event('b', 1), event('c', 2)];
    assert.deepEqual(advanceCursor(START, events, new Set(['b', 'c'])), { resumeAt: at(1), handledGuids: ['b', 'c'] });
  });

  it('stops before the events a stopped round never reached', () => {
    const events = [event('a', 1), event('b', 2), event('not-reached', 3), event('not-reached-either', 4)];
    assert.deepEqual(advanceCursor(START, events, new Set(['a', 'b'])), { resumeAt: at(3), handledGuids: [] });
  });

  it('counts events handled in an earlier round (in the handled set) as handled', () => {
    const cursor: PrewarmCursor = { resumeAt: at(2), handledGuids: ['x'] };
    const events = [event('x', 2), event('y', 2), event('z', 3)];
    assert.deepEqual(advanceCursor(cursor, events, new Set(['x', 'y'])), { resumeAt: at(3), handledGuids: [] });
    assert.deepEqual(advanceCursor(cursor, events, new Set(['x', 'y', 'z'])), { resumeAt: at(3), handledGuids: ['z'] });
  });
});
