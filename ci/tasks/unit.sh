#!/usr/bin/env bash
source "$(dirname "$0")/common.sh"

npm_ci
cd droplet-registry
npm run typecheck
./node_modules/.bin/node --test --test-concurrency=1 'spec/unit/**/*.spec.ts'
