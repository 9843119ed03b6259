/**
 * A local Cloud Foundry to point the registry at: the simulator on fixed ports (CAPI_PORT 9022,
 * UAA_PORT 9023, BLOBSTORE_PORT 9024), seeded with the standard foundation, every buildpack droplet a
 * small generated `.tgz`. Prints what to configure and runs until Ctrl-C. CF_SIMULATOR_LATENCY_MS
 * (default 0) holds every CAPI and UAA request that long before it is answered, like a foundation
 * across a network.
 *
 *   npm run cf-simulator
 *   CF_SIMULATOR_LATENCY_MS=50 npm run cf-simulator
 */
import { standardDroplet } from '../build-droplet.ts';
import { seedFoundation, startCfSimulator } from './index.ts';

const port = (name: string, fallback: number) => Number(process.env[name] ?? fallback);

const latencyMs = Number(process.env.CF_SIMULATOR_LATENCY_MS ?? 0);
const cf = await startCfSimulator({ capiPort: port('CAPI_PORT', 9022), uaaPort: port('UAA_PORT', 9023), blobstorePort: port('BLOBSTORE_PORT', 9024), latencyMs });
const seeded = seedFoundation(cf, {
  dropletBytes: ({ app, startCommand }) => standardDroplet({ startCommand, files: { 'app/README': `The ${app} app of the cf-simulator playground.\n` } }),
});

const { org, spaces, apps, users, serviceClient, loginClient } = seeded;
const lines = [
  'cf-simulator playground',
  `  CAPI       ${cf.capiUrl}`,
  `  UAA        ${cf.uaaUrl}`,
  `  blobstore  ${cf.blobstoreUrl}`,
  ...(latencyMs > 0 ? [`  every CAPI and UAA request is held ${latencyMs} ms before it is answered (CF_SIMULATOR_LATENCY_MS)`] : []),
  '',
  `Service client (client_credentials, cloud_controller.admin_read_only): ${serviceClient.id} / ${serviceClient.secret}`,
  `Login client (password grant): ${loginClient.id} / ${loginClient.secret}; the cf CLI's client "cf" (empty secret) works too.`,
  '',
  `Org ${org.name}; spaces ${spaces.development.name} (every role below) and ${spaces.production.name} (no one but admins and the org manager).`,
  `Apps in ${spaces.development.name}: ${[apps.web, apps.legacy, apps.docker, apps.cnb, apps.failing, apps.empty].map((app) => app.name).join(', ')}; in ${spaces.production.name}: ${apps.api.name}.`,
  '',
  'Users (username / password):',
  ...Object.entries(users).map(([role, user]) => `  ${role.padEnd(20)} ${user.username} / ${user.password}`),
  '',
  'Point the registry at it (a token signing key first: openssl ecparam -name prime256v1 -genkey -noout -out token-key.pem):',
  `  CAPI_URL=${cf.capiUrl} UAA_CLIENT_ID=${serviceClient.id} UAA_CLIENT_SECRET=${serviceClient.secret} \\`,
  `    UAA_LOGIN_CLIENT_ID=${loginClient.id} UAA_LOGIN_CLIENT_SECRET=${loginClient.secret} TOKEN_SIGNING_KEYS=token-key.pem \\`,
  '    STACKS=cflinuxfs4=/path/to/rootfs.tgz npm start',
  `  (UAA_URL is discovered from CAPI's root links: ${cf.uaaUrl})`,
  `Then log in as one of the users (docker login 127.0.0.1:5000 -u ${users.space_developer.username}) and pull e.g.`,
  `${org.name}/${spaces.development.name}/${apps.web.name}:latest. Ctrl-C stops.`,
];
process.stdout.write(`${lines.join('\n')}\n`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    cf.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`${String(error)}\n`);
        process.exit(1);
      },
    );
  });
}
