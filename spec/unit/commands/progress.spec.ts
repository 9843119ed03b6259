import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createProgress } from '../../../src/commands/progress.ts';

function fakeStream(isTTY: boolean): NodeJS.WriteStream & { output: string } {
  const stream = { isTTY, output: '', write(chunk: string) { stream.output += chunk; return true; } };
  return stream as unknown as NodeJS.WriteStream & { output: string };
}

describe('createProgress', () => {
  it('redraws one line in place on a terminal', () => {
    const stream = fakeStream(true);
    const progress = createProgress('converting d.tgz', 1000, stream);
    progress.update(500);
    progress.finish('done');
    assert.match(stream.output, /^\rconverting d\.tgz: 50% 0\.0 MB read/);
    assert.match(stream.output, /\rdone\x1b\[K\n$/);
    assert.equal(stream.output.split('\n').length, 2, 'a single line, ended once');
  });

  it('writes a plain line per quarter elsewhere, for logs', () => {
    const stream = fakeStream(false);
    const progress = createProgress('converting d.tgz', 1000, stream);
    for (let done = 0; done <= 1000; done += 10) progress.update(done);
    progress.finish('done');
    const lines = stream.output.trim().split('\n');
    assert.deepEqual(lines.map((line) => /: (\d+)%/.exec(line)?.[1] ?? line), ['25', '50', '75', 'done']);
    assert.ok(!stream.output.includes('\r'));
  });
});
