#!/usr/bin/env bash
# A dev release of the commit: its blobs built and added, then `bosh create-release`, which reads
# nothing but the checkout and those blobs (no network).
source "$(dirname "$0")/common.sh"

install_bosh_cli
npm_ci
output="${PWD}/release-tarball"
version=$(date -u +%s)
cd droplet-registry
scripts/build-release-inputs.sh --output "${PWD}/tmp/release-inputs" --add-blobs
# --force: the blobs just added leave config/blobs.yml modified.
bosh create-release --force --timestamp-version --tarball "${output}/droplet-registry-${version}.tgz"
