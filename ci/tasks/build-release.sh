#!/usr/bin/env bash
source "$(dirname "$0")/common.sh"

install -m 0755 bosh-cli/bosh-cli-*-linux-amd64 /usr/local/bin/bosh
bosh -v

npm_ci
output="${PWD}/release-tarball"
version=$(date -u +%s)
cd droplet-registry
scripts/build-release-inputs.sh --output "${PWD}/tmp/release-inputs" --add-blobs
# --force: the blobs just added leave config/blobs.yml modified.
bosh create-release --force --timestamp-version --tarball "${output}/droplet-registry-${version}.tgz"
