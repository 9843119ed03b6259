/** What the numbers were measured on, and the system tools the bench needs. */
import { execFileSync } from 'node:child_process';
import { cpus, loadavg, availableParallelism, totalmem, release } from 'node:os';
import { readFileSync } from 'node:fs';

export interface Machine {
  readonly cpuModel: string;
  readonly cores: number;
  readonly nproc: string;
  readonly memoryGiB: number;
  readonly os: string;
  readonly kernel: string;
  readonly node: string;
  readonly tools: Record<string, string>;
  /** The commit measured, and whether the work tree differed from it. */
  readonly code: string;
  readonly loadBefore: readonly number[];
  loadAfter: readonly number[];
}

export function describeMachine(): Machine {
  return {
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    nproc: output('nproc', []),
    memoryGiB: totalmem() / 1024 ** 3,
    os: osName(),
    kernel: release(),
    node: process.version,
    tools: {
      gzip: output('gzip', ['--version']).split('\n')[0] ?? '',
      pigz: output('pigz', ['--version']),
      'docker-registry': output('docker-registry', ['--version']).replace(/^docker-registry\s+\S+\s+/, 'distribution '),
      skopeo: output('skopeo', ['--version']),
    },
    code: codeVersion(),
    loadBefore: loadavg(),
    loadAfter: [],
  };
}

function codeVersion(): string {
  const commit = output('git', ['rev-parse', '--short', 'HEAD']);
  if (!/^[0-9a-f]+$/.test(commit)) return 'unknown (not a git work tree)';
  const dirty = output('git', ['status', '--porcelain', '--untracked-files=no', '--', ':/src']).length > 0;
  return `${commit}${dirty ? ', with uncommitted changes under src/' : ''}`;
}

function osName(): string {
  try {
    return /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'Linux';
  } catch {
    return 'Linux';
  }
}

function output(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], cwd: import.meta.dirname }).trim();
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    return stderr || 'not installed';
  }
}

export function hasCommand(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Installs the Debian packages of missing commands when running as root with apt-get (as the
 * test suite's provisionCommands does). Returns what is still missing.
 */
export function provision(requirements: Record<string, string>, log: (line: string) => void): string[] {
  const missing = Object.entries(requirements).filter(([command]) => !hasCommand(command));
  const packages = [...new Set(missing.map(([, pkg]) => pkg))];
  if (packages.length > 0 && process.getuid?.() === 0 && hasCommand('apt-get')) {
    log(`installing ${packages.join(', ')} (apt-get)`);
    const install = (): void => {
      execFileSync('apt-get', ['install', '-y', '-qq', ...packages], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 600_000 });
    };
    try {
      install();
    } catch {
      try {
        execFileSync('apt-get', ['update', '-qq'], { stdio: 'ignore', timeout: 600_000 });
        install();
      } catch {
        // reported below
      }
    }
  }
  return missing.filter(([command]) => !hasCommand(command)).map(([command, pkg]) => `${command} (Debian package ${pkg})`);
}
