/**
 * The registry runs on Node.js 24, which `npm start`, `npm test` and `npx droplet-registry` take
 * from the `node@24` dev dependency. `node dist/cli.js` runs on whatever `node` the shell finds,
 * often an older system one; refuse it at once, before anything else is loaded, saying how to run
 * it instead, rather than run on a Node the registry is not built and tested for.
 */

/** The oldest major version of Node.js the registry runs on. */
export const REQUIRED_NODE_MAJOR = 24;

/** Why `version` (`process.versions.node`) will not do, or `undefined` when it will. */
export function unsupportedNode(version: string): string | undefined {
  const major = Number(version.split('.')[0]);
  if (Number.isInteger(major) && major >= REQUIRED_NODE_MAJOR) return undefined;
  return (
    `droplet-registry needs Node.js ${REQUIRED_NODE_MAJOR} or later, and this is Node.js ${version}. ` +
    'Run it with `npm start`, `npx droplet-registry …` or `node_modules/.bin/node dist/cli.js …`, which use the Node.js 24 that `npm ci` installed.'
  );
}

const problem = unsupportedNode(process.versions.node);
if (problem !== undefined) {
  process.stderr.write(`${problem}\n`);
  process.exit(2);
}
