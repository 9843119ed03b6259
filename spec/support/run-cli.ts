/** The built `droplet-registry` command run as a user runs it: a child process with a bare environment. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CLI, REPOSITORY_ROOT } from './start-registry.ts';

const NODE = join(REPOSITORY_ROOT, 'node_modules', '.bin', 'node');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `dist/cli.js` with `args` (build it first: `ensureServerBuilt`); a failing exit is a result, not a rejection.
 * `timeoutMs`: a command still running then is killed (SIGKILL) and rejects, so a hang fails the test instead of holding it.
 */
export async function runCli(args: string[], env: Record<string, string> = {}, options: { timeoutMs?: number } = {}): Promise<CliResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)(NODE, [CLI, ...args], {
      env: { PATH: process.env.PATH, LOG_LEVEL: 'info', ...env },
      ...(options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs, killSignal: 'SIGKILL' }),
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string; killed?: boolean };
    if (failure.killed) throw new Error(`droplet-registry ${args.join(' ')} still running after ${options.timeoutMs} ms; it wrote: ${failure.stderr}${failure.stdout}`);
    return { code: failure.code, stdout: failure.stdout, stderr: failure.stderr };
  }
}
