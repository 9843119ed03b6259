/**
 * Runs a client command to completion. Failures carry the command line, exit status and both
 * output streams, so a failing end-to-end test says what the client saw without a rerun.
 */
import { spawn } from 'node:child_process';

export interface CommandResult {
  stdout: string;
  stderr: string;
}

export interface CommandOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Written to the command's standard input, which is closed afterwards. */
  input?: string;
  /** How long to wait before killing the command; a safety net against hangs, not an assertion. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 300_000;

/** Runs `command args`, resolving with its output on exit status 0 and rejecting otherwise. */
export function runCommand(command: string, args: string[], options: CommandOptions = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${command} could not be started: ${error.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result = { stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString() };
      if (code === 0) {
        resolve(result);
        return;
      }
      const how = timedOut ? `was killed after ${timeoutMs} ms` : signal ? `died of ${signal}` : `exited with ${code}`;
      reject(
        Object.assign(
          new Error(`${[command, ...args].join(' ')} ${how}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`),
          result,
        ),
      );
    });
    child.stdin.end(options.input ?? '');
  });
}
