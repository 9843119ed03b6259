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

# npm_ci [DIR]: the dependencies of the checkout in DIR (default: the droplet-registry input).
npm_ci() {
  (cd "${1:-droplet-registry}" && npm ci --no-audit --no-fund)
}

# install_bosh_cli: the bosh CLI from the bosh-cli input (cloudfoundry/bosh-cli's GitHub release).
install_bosh_cli() {
  install -m 0755 bosh-cli/bosh-cli-*-linux-amd64 /usr/local/bin/bosh
  bosh -v
}
