/**
 * Private configuration for the containers/image tools (skopeo, podman), so tests neither read
 * nor write the machine's /etc/containers and auth files: an accept-anything signature policy, a
 * registries.conf without search registries, and an auth file of their own.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ContainersConfig {
  policyFile: string;
  /** Environment variables that point the tools at the private files. */
  env: NodeJS.ProcessEnv;
}

/** Writes the private files into `dir` and returns how to use them. */
export function writeContainersConfig(dir: string): ContainersConfig {
  const policyFile = join(dir, 'policy.json');
  const registriesFile = join(dir, 'registries.conf');
  const authFile = join(dir, 'auth.json');
  writeFileSync(policyFile, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  writeFileSync(registriesFile, 'unqualified-search-registries = []\nshort-name-mode = "disabled"\n');
  // podman refuses an auth file named in REGISTRY_AUTH_FILE that does not exist.
  writeFileSync(authFile, JSON.stringify({ auths: {} }));
  return {
    policyFile,
    env: {
      ...process.env,
      CONTAINERS_REGISTRIES_CONF: registriesFile,
      REGISTRY_AUTH_FILE: authFile,
      XDG_RUNTIME_DIR: dir,
      TMPDIR: dir,
    },
  };
}
