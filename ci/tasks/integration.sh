#!/usr/bin/env bash
source "$(dirname "$0")/common.sh"

apt_install postgresql nginx-extras ruby ruby-activesupport curl ca-certificates openssl
# A cluster reachable as postgres/postgres on 127.0.0.1:5432 (TEST_DATABASE_URL).
read -r version cluster _ < <(pg_lsclusters --no-header)
pg_ctlcluster --skip-systemctl-redirect "${version}" "${cluster}" start
until pg_isready -q -h 127.0.0.1; do sleep 1; done
su postgres -c "psql -q -c \"alter user postgres password 'postgres'\""
export TEST_DATABASE_URL=postgres://postgres:postgres@127.0.0.1:5432/postgres

npm_ci
cd droplet-registry
npm run build
./node_modules/.bin/node --test --test-concurrency=1 'spec/integration/**/*.spec.ts' 'spec/bosh/*.spec.ts'
