/**
 * How a test that needs a system tool says so. Where the tool cannot be had, the test is skipped
 * with the reason — unless `DROPLET_REGISTRY_TEST_NO_SKIP=1` (set by `.ci/run`), which turns the
 * skip into a failure so CI always runs everything.
 */
import { execFileSync } from 'node:child_process';
import type { TestContext } from 'node:test';

export const NO_SKIP = process.env.DROPLET_REGISTRY_TEST_NO_SKIP === '1';

/**
 * The one way a test says a tool is missing. With a test context: skips the test (or fails it
 * under NO_SKIP) with `reason`, and returns false so callers can `return`. Without one, for
 * `describe(…, { skip: skipOrFail(problem) })` where no context exists yet: returns the reason to
 * skip the suite, false when there is no problem, and under NO_SKIP throws, failing the file.
 */
export function skipOrFail(t: TestContext, reason: string): false;
export function skipOrFail(problem: string | null | undefined): string | false;
export function skipOrFail(context: TestContext | string | null | undefined, reason?: string): string | false {
  if (typeof context === 'object' && context !== null) {
    failUnderNoSkip(reason ?? '');
    context.skip(reason);
    return false;
  }
  if (!context) return false;
  failUnderNoSkip(context);
  return context;
}

function failUnderNoSkip(problem: string): void {
  if (NO_SKIP) throw new Error(`required by DROPLET_REGISTRY_TEST_NO_SKIP=1 but unavailable: ${problem}`);
}

/** Is `command` on PATH? */
export function hasCommand(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const attempted = new Set<string>();

/**
 * Makes sure each command exists, installing the Debian package that provides it when running as
 * root with apt-get available (once per package per process). Returns the reason when it cannot.
 */
export function provisionCommands(requirements: Record<string, string>): string | null {
  const missing = Object.entries(requirements).filter(([command]) => !hasCommand(command));
  if (missing.length === 0) return null;
  const packages = [...new Set(missing.map(([, pkg]) => pkg))].filter((pkg) => !attempted.has(pkg));
  if (packages.length > 0 && process.getuid?.() === 0 && hasCommand('apt-get')) {
    packages.forEach((pkg) => attempted.add(pkg));
    try {
      execFileSync('apt-get', ['install', '-y', '-qq', ...packages], {
        stdio: 'ignore',
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
        timeout: 600_000,
      });
    } catch {
      // reported below through what is still missing
    }
  }
  const still = missing.filter(([command]) => !hasCommand(command));
  if (still.length === 0) return null;
  return `needs ${still.map(([c, p]) => `${c} (Debian package ${p})`).join(', ')}; install it or run as root with apt-get`;
}
