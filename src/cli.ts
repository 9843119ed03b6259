/**
 * The `droplet-registry` command: serve | migrate | import-rootfs | convert | gc, each with --help.
 * Exit codes: 0 done, 1 failed, 2 bad usage or configuration.
 */
// First: on an unsupported Node.js, exit before the rest is even loaded.
import './runtime-check.ts';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from './config/load-config.ts';
import { convertCommand, UsageError } from './commands/convert-command.ts';
import { formatGcReport, gcCommand } from './commands/gc-command.ts';
import { capYoungGeneration } from './conversion/young-generation.ts';
import { createLogger } from './logger.ts';
import { trustSystemCertificates } from './util/trusted-certificates.ts';
import { startRegistry } from './wiring/build-registry.ts';
import { loadBaseLayers } from './wiring/load-base-layers.ts';
import { openBlobStore } from './wiring/open-blob-store.ts';
import { openDatabase } from './wiring/open-database.ts';

const COMMANDS: Record<string, { summary: string; usage: string; run: (args: string[]) => Promise<void> }> = {
  serve: {
    summary: 'run the registry',
    usage: `droplet-registry serve [--config FILE]

Runs the registry: migrates the database (with DATABASE_MIGRATE=false it only checks that the
schema is current, and stops if not), imports the configured rootfs tarballs (once per file), then
serves the OCI pull API. Configuration comes from the environment (PORT, DATA_DIR, STACKS,
DROPLETS_DIR, DATABASE_URL, … — see docs/configuration.md) and optionally a JSON file with the
same keys; environment variables win over the file. SIGTERM/SIGINT stop it gracefully.`,
    run: serve,
  },
  migrate: {
    summary: 'apply database migrations and exit',
    usage: `droplet-registry migrate [--config FILE]

Applies the knex migrations to DATABASE_URL (or the embedded database under DATA_DIR) in schema
DATABASE_SCHEMA, whatever DATABASE_MIGRATE says (serve, gc and import-rootfs migrate only when it
is true, the default). Safe to run from several instances at once: they take turns on an advisory
lock.`,
    run: async (args) => {
      const config = configFrom(args, {});
      const db = await openDatabase(config, createLogger(config.logLevel, { fd: 2 }), { migrate: true });
      await db.destroy();
      process.stdout.write(`database migrated (schema ${config.database.schema})\n`);
    },
  },
  'import-rootfs': {
    summary: 'hash and store the configured rootfs tarballs ahead of time',
    usage: `droplet-registry import-rootfs [--config FILE] [--stack NAME=PATH]...

Copies each configured stack tarball (STACKS, plus any --stack) into the blobstore and records its
digest and diff_id, so that start-up does not hash it, and builds each foundation layer
(STACK_FOUNDATIONS). A file already imported (same path, size and mtime) is skipped. Prints one
line per layer: stack (or "stack foundation"), digest, diff_id, size. Migrates the database first
unless DATABASE_MIGRATE=false.`,
    run: async (args) => {
      const { values } = parseArgs({ args, options: { config: { type: 'string' }, stack: { type: 'string', multiple: true } }, strict: true });
      const extra = Object.fromEntries((values.stack ?? []).map((pair) => splitStack(pair)));
      const config = configFrom(args, { stacks: extra });
      const logger = createLogger(config.logLevel, { fd: 2 });
      const db = await openDatabase(config, logger);
      try {
        const layers = await loadBaseLayers(config, db, openBlobStore(config), logger);
        for (const [name, { stack, foundation }] of layers.stacks) {
          process.stdout.write(`${name}\t${stack.digest}\t${stack.diffId}\t${stack.size}\n`);
          if (foundation) process.stdout.write(`${name} foundation\t${foundation.digest}\t${foundation.diffId}\t${foundation.size}\n`);
        }
      } finally {
        await db.destroy();
      }
    },
  },
  convert: {
    summary: 'convert one droplet to an OCI layout or a docker load archive, offline',
    usage: `droplet-registry convert --droplet DROPLET.tgz --rootfs ROOTFS.tgz --output DIR|FILE.tar [options]

Builds the image a registry would serve for this droplet, without a server or database.
  --droplet FILE          the droplet (e.g. from \`cf download-droplet\`)
  --rootfs FILE           the stack's rootfs tarball (e.g. cflinuxfs4's .tar.gz)
  --output DIR|FILE.tar   a new directory → OCI image layout; a .tar file → docker/podman load archive
  --droplet-json FILE     the droplet's CAPI v3 JSON (\`cf curl /v3/droplets/GUID\`): process_types,
                          stack, buildpacks, created_at and checksum (verified) are taken from it
  --start-command CMD     the web command (default: process_types.web, else staging_info.yml)
  --app NAME              app name for labels (default: app)
  --tag NAME:TAG          image name in the archive (default: <app>:<droplet guid>)
  --stack NAME            stack label (default: the droplet JSON's stack, else cflinuxfs4)
  --lifecycle FILE        a buildpack_app_lifecycle tarball instead of the built-in launcher
  --compression-level N   gzip level 1-9 of the droplet layers (default: 1)
  --droplet-layers MODE   split: a layer per buildpack's deps/<i> and one for the rest (default);
                          single: the whole droplet in one layer`,
    run: async (args) => {
      const { values } = parseArgs({
        args,
        options: {
          droplet: { type: 'string' },
          rootfs: { type: 'string' },
          output: { type: 'string' },
          'droplet-json': { type: 'string' },
          'start-command': { type: 'string' },
          app: { type: 'string' },
          tag: { type: 'string' },
          stack: { type: 'string' },
          lifecycle: { type: 'string' },
          'compression-level': { type: 'string', default: '1' },
          'droplet-layers': { type: 'string', default: 'split' },
        },
        strict: true,
      });
      const missing = (['droplet', 'rootfs', 'output'] as const).filter((key) => !values[key]);
      if (missing.length > 0) throw new UsageError(`missing ${missing.map((key) => `--${key}`).join(', ')}`);
      const level = Number(values['compression-level']);
      if (!Number.isInteger(level) || level < 1 || level > 9) throw new UsageError('--compression-level must be an integer from 1 to 9');
      const layering = values['droplet-layers'];
      if (layering !== 'split' && layering !== 'single') throw new UsageError('--droplet-layers must be split or single');
      await convertCommand({
        droplet: values.droplet as string,
        rootfs: values.rootfs as string,
        output: values.output as string,
        dropletJson: values['droplet-json'],
        startCommand: values['start-command'],
        app: values.app,
        tag: values.tag,
        stack: values.stack,
        lifecycle: values.lifecycle,
        compressionLevel: level,
        splitDeps: layering === 'split',
      });
    },
  },
  gc: {
    summary: 'remove images and blobs that are no longer needed (garbage collection)',
    usage: `droplet-registry gc [--dry-run] [--json] [--config FILE]

Runs one garbage collection with the service's configuration (the same environment or --config
file as serve): removes images whose droplet is gone from Cloud Controller (or the droplets
folder) or that nobody pulled for GC_IMAGE_RETENTION_DAYS, then deletes blobs that no image has
referenced for GC_BLOB_GRACE_MS. Safe while registries serve and convert. Prints what it removed.
  --dry-run   remove nothing; print exactly what a real run would remove now
  --json      print the report as JSON`,
    run: async (args) => {
      const { values } = parseArgs({ args, options: { config: { type: 'string' }, 'dry-run': { type: 'boolean' }, json: { type: 'boolean' } }, strict: true });
      const config = loadConfig({ file: values.config });
      const logger = createLogger(config.logLevel, { fd: 2 });
      const report = await gcCommand(config, { dryRun: values['dry-run'] === true }, logger);
      process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatGcReport(report));
    },
  },
};

function configFrom(args: string[], overrides: { stacks?: Record<string, string> }): Config {
  const { values } = parseArgs({ args, options: { config: { type: 'string' }, stack: { type: 'string', multiple: true } }, strict: true });
  const config = loadConfig({ file: values.config });
  return overrides.stacks ? { ...config, stacks: { ...config.stacks, ...overrides.stacks } } : config;
}

function splitStack(pair: string): [string, string] {
  const at = pair.indexOf('=');
  if (at <= 0) throw new UsageError(`--stack ${pair}: expected NAME=PATH`);
  return [pair.slice(0, at), pair.slice(at + 1)];
}

async function serve(args: string[]): Promise<void> {
  const config = configFrom(args, {});
  const logger = createLogger(config.logLevel);
  const registry = await startRegistry(config, logger);
  const stop = async (signal: string) => {
    logger.info(
      { event: 'stopping', signal, timeoutMs: config.shutdownTimeoutMs },
      `${signal} received: finishing requests and conversions under way (conversions still running in ${config.shutdownTimeoutMs} ms are handed back; a second signal ends the process at once)`,
    );
    await registry.stop();
    logger.flush();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

function help(): string {
  const lines = Object.entries(COMMANDS).map(([name, command]) => `  ${name.padEnd(14)}${command.summary}`);
  return `droplet-registry: a pull-only OCI registry serving Cloud Foundry droplets as images

Usage: droplet-registry <command> [options]   (droplet-registry <command> --help for details)

Commands:
${lines.join('\n')}
`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(help());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`droplet-registry: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${command.usage}\n`);
    return 0;
  }
  try {
    await command.run(args);
    return 0;
  } catch (error) {
    const usage = error instanceof UsageError || error instanceof ConfigError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    process.stderr.write(`droplet-registry ${name}: ${(error as Error).message}\n`);
    if (usage) process.stderr.write(`see: droplet-registry ${name} --help\n`);
    return usage ? 2 : 1;
  }
}

// Conversions would otherwise grow V8's young generation to ~48 MB of resident memory.
capYoungGeneration();
// The machine's CA store (BOSH's trusted_certs, company CAs) too, as `node --use-system-ca` would.
trustSystemCertificates();
const code = await main(process.argv.slice(2));
if (process.argv[2] === 'serve') {
  // The registry runs on until a signal stops it; a start that failed sets the exit status.
  if (code !== 0) process.exitCode = code;
} else {
  // A one-shot command is done: end the process once its output is written, rather than when
  // nothing holds the event loop any more (a connection a silent server never answered would hold
  // it for good, with the command already failed).
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit(code);
}

/** Resolves once what was written to `stream` before has been handed to the system. */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || !stream.writable) resolve();
    else stream.write('', () => resolve());
  });
}
