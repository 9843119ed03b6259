# Sourced by the task scripts: Debian packages, the npm cache, `npm ci`, and no skipped tests.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
export npm_config_cache="${PWD}/npm-cache"
export DROPLET_REGISTRY_TEST_NO_SKIP=1

# apt_install PACKAGE...: Debian packages the task needs.
apt_install() {
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

npm_ci() {
  (cd droplet-registry && npm ci --no-audit --no-fund)
}
