/**
 * Decides when long work is worth another progress line: after each further tenth of the total,
 * or after `intervalMs` without one (a slow blobstore), so a log shows movement in a few lines.
 */
export function createProgressThrottle(total: number, intervalMs: number, now: () => number = () => performance.now()): (done: number) => boolean {
  const step = total / 10;
  let reported = 0;
  let reportedAt = now();
  return (done) => {
    const at = now();
    if (done - reported < step && at - reportedAt < intervalMs) return false;
    reported = done;
    reportedAt = at;
    return true;
  };
}
