#!/usr/bin/env bash
source "$(dirname "$0")/common.sh"

apt_install docker.io skopeo podman containerd runc umoci busybox-static iptables ca-certificates

npm_ci
cd droplet-registry
npm run build
./node_modules/.bin/node --test --test-concurrency=1 'spec/e2e/**/*.spec.ts'
