/**
 * Progress of long work: a line redrawn in place on a terminal, a log line per quarter otherwise
 * (so CI logs show movement without thousands of lines).
 */
export interface Progress {
  update(done: number): void;
  finish(message: string): void;
}

export function createProgress(label: string, total: number | undefined, stream: NodeJS.WriteStream = process.stderr): Progress {
  const started = performance.now();
  // Not 0: performance.now() counts from the process's start, so a draw in its first 100 ms would be skipped.
  let lastDraw = Number.NEGATIVE_INFINITY;
  let lastQuarter = 0;
  const describe = (done: number): string => {
    const seconds = (performance.now() - started) / 1000;
    const rate = seconds > 0 ? done / seconds / 1e6 : 0;
    const percent = total ? ` ${Math.min(100, Math.floor((done / total) * 100))}%` : '';
    return `${label}:${percent} ${(done / 1e6).toFixed(1)} MB read, ${rate.toFixed(1)} MB/s`;
  };
  return {
    update(done) {
      if (stream.isTTY) {
        const now = performance.now();
        if (now - lastDraw < 100) return;
        lastDraw = now;
        stream.write(`\r${describe(done)}\x1b[K`);
      } else if (total) {
        const quarter = Math.floor((done / total) * 4);
        if (quarter > lastQuarter && quarter < 4) {
          lastQuarter = quarter;
          stream.write(`${describe(done)}\n`);
        }
      }
    },
    finish(message) {
      stream.write(stream.isTTY ? `\r${message}\x1b[K\n` : `${message}\n`);
    },
  };
}
