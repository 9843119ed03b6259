/**
 * How the pre-warmer's cursor moves over a round of audit events. CC stamps events with whole
 * seconds and a second can hold several events, some of which may appear only after a query has
 * run, so the follow-up query is `created_ats[gte]=<second>` and the events it repeats are told
 * apart by guid.
 */
import type { PrewarmCursor } from '../db/queries/prewarm-cursor.ts';
import type { StagingEvent } from './staging-events.ts';

/**
 * The cursor after a round. `events` is everything `created_ats[gte]=cursor.resumeAt` returned,
 * oldest first; `handled` holds the guids of the events dealt with for good (now or in an earlier
 * round). The cursor stops at the oldest event not handled (it failed, or the round was stopped
 * before it), so the next round tries it again; every handled event at or after that second is
 * remembered, so nothing is done twice.
 */
export function advanceCursor(cursor: PrewarmCursor, events: readonly StagingEvent[], handled: ReadonlySet<string>): PrewarmCursor {
  const newest = events.at(-1);
  if (!newest) return cursor;
  const resumeAt = events.find((event) => !handled.has(event.guid))?.createdAt ?? newest.createdAt;
  const handledGuids = events.filter((event) => event.createdAt >= resumeAt && handled.has(event.guid)).map((event) => event.guid);
  return { resumeAt, handledGuids };
}
