#!/usr/bin/env bash
source "$(dirname "$0")/common.sh"

apt_install postgresql nginx-extras ruby ruby-activesupport curl ca-certificates openssl util-linux
# A cluster reachable as postgres/postgres on 127.0.0.1:5432 (TEST_DATABASE_URL).
read -r version cluster _ < <(pg_lsclusters --no-header)
pg_ctlcluster --skip-systemctl-redirect "${version}" "${cluster}" start
until pg_isready -q -h 127.0.0.1; do sleep 1; done
su postgres -c "psql -q -c \"alter user postgres password 'postgres'\""
export TEST_DATABASE_URL=postgres://postgres:postgres@127.0.0.1:5432/postgres

# ../shared beside the clone, laid out as the BOSH specs expect it: the real bosh CLI, the template
# engine (Bosh::Common::Template::Test from cloudfoundry/bosh) and cf-deployment v58.
mkdir -p shared/tools/bosh-template shared/reference
install -m 0755 bosh-cli/bosh-cli-*-linux-amd64 shared/tools/bosh
ln -sfn "${PWD}/bosh-src/src/bosh-common/lib" shared/tools/bosh-template/lib
ln -sfn "${PWD}/cf-deployment" shared/reference/cf-deployment-v58

npm_ci
cd droplet-registry
npm run build
./node_modules/.bin/node --test --test-concurrency=1 'spec/integration/**/*.spec.ts' 'spec/bosh/*.spec.ts'
