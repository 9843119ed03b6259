#!/usr/bin/env bash
# Final release <version/version> of the commit: its blobs built, uploaded to config/final.yml's
# blobstore and committed (config/blobs.yml), then `bosh create-release --final`, whose records
# (.final_builds/, releases/) are committed too. Leaves:
#   final-release-repo/   the checkout with both commits, for the pipeline to push and tag
#   final-release/        droplet-registry-<version>.tgz
#   release-metadata/     name, tag and body of the GitHub release
# The blobstore's credentials come from the task's params (pipeline variables) into
# config/private.yml, which bosh reads and git ignores; it is deleted when the task ends.
source "$(dirname "$0")/common.sh"

: "${BLOBSTORE_ACCESS_KEY_ID:?set the pipeline variable release_blobs_access_key_id}"
: "${BLOBSTORE_SECRET_ACCESS_KEY:?set the pipeline variable release_blobs_secret_access_key}"
export GIT_AUTHOR_NAME=${GIT_AUTHOR_NAME:-droplet-registry CI} GIT_AUTHOR_EMAIL=${GIT_AUTHOR_EMAIL:-ci@droplet-registry.invalid}
export GIT_COMMITTER_NAME=${GIT_AUTHOR_NAME} GIT_COMMITTER_EMAIL=${GIT_AUTHOR_EMAIL}

version=$(cat version/version)
[[ ${version} =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "version/version is '${version}', not a final version (x.y.z)" >&2; exit 1; }
build=${PWD}
tarball="${build}/final-release/droplet-registry-${version}.tgz"

install_bosh_cli
git clone --quiet droplet-registry final-release-repo
npm_ci final-release-repo
cd final-release-repo

# JSON is YAML: no quoting of the secrets by hand. Nothing here echoes them.
trap 'rm -f config/private.yml' EXIT
(umask 077 && node -e '
  const options = { access_key_id: process.env.BLOBSTORE_ACCESS_KEY_ID, secret_access_key: process.env.BLOBSTORE_SECRET_ACCESS_KEY };
  process.stdout.write(JSON.stringify({ blobstore: { options } }) + "\n");
' >config/private.yml)

scripts/build-release-inputs.sh --add-blobs
bosh upload-blobs
# create-release --final refuses a checkout with changes: the blobs' records are committed first.
git add config/blobs.yml
git diff --cached --quiet || git commit --quiet -m "droplet-registry ${version}: blobs"
bosh create-release --final --version "${version}" --tarball "${tarball}"
git add .final_builds releases
git commit --quiet -m "droplet-registry ${version}"
# The put streams this directory: the checkout, without the build's leftovers.
rm -rf node_modules tmp blobs dev_releases .dev_builds

sha=$(sha256sum "${tarball}" | cut -d' ' -f1)
echo "droplet-registry ${version}" >"${build}/release-metadata/name"
echo "v${version}" >"${build}/release-metadata/tag"
cat >"${build}/release-metadata/body" <<EOT
droplet-registry ${version}, built by \`bosh create-release --final\` from tag v${version}.

\`\`\`sh
bosh upload-release droplet-registry-${version}.tgz --sha1 sha256:${sha}
\`\`\`
EOT
