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

/** Runs `dist/cli.js` with `args` (build it first: `ensureServerBuilt`); a failing exit is a result, not a rejection. */
export async function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)(NODE, [CLI, ...args], { env: { PATH: process.env.PATH, LOG_LEVEL: 'info', ...env } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    return { code: failure.code, stdout: failure.stdout, stderr: failure.stderr };
  }
}
