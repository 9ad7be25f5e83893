#!/usr/bin/env bash
# A hands-on demo of flow against the real test environment:
#
#   scripts/demo.sh
#
# 1. starts the test environment (scripts/testenv.sh up): a private dockerd
#    with the offline base image flow-test/busybox, plus registries on 127.0.0.1;
# 2. builds flow in release mode;
# 3. runs `flow build -f examples/shop/flow.kdl dev` against that dockerd;
# 4. shows the images it made;
# 5. builds and pushes the prod stage to the local plain-HTTP registry and shows
#    the pushed references with their digests (what a deploy step consumes).
#
# The environment is left running afterwards (also if a step fails), so you
# can poke at it; the script ends by saying how to use and stop it.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

section() { printf '\n==== %s ====\n' "$*"; }

how_to_stop() {
  local rc=$?
  section "The test environment is still running"
  cat <<'MSG'
Use it from your shell:   source "$(scripts/testenv.sh env)"   (sets DOCKER_HOST, FLOW_TEST_*)
                          docker images; target/release/flow --help
Stop it:                  scripts/testenv.sh down
MSG
  exit "$rc"
}

section "Starting the test environment"
scripts/testenv.sh up
trap how_to_stop EXIT
# shellcheck disable=SC1090 # the path is only known at run time
source "$(scripts/testenv.sh env)"
echo "DOCKER_HOST=$DOCKER_HOST"

section "cargo build --release -p fleetflow"
cargo build --release -p fleetflow

section "flow build -f examples/shop/flow.kdl dev"
target/release/flow build -f examples/shop/flow.kdl dev

section "docker images (on $DOCKER_HOST)"
docker images

section "flow build --push prod (to the local registry $FLOW_TEST_REGISTRY_PLAIN)"
# A private, empty Docker config: the demo registry needs no login.
DOCKER_CONFIG=$(mktemp -d)
export DOCKER_CONFIG
echo '{}' >"$DOCKER_CONFIG/config.json"
target/release/flow build -f examples/shop/flow.kdl --push --registry "$FLOW_TEST_REGISTRY_PLAIN/shop" \
  --tag demo --metadata-file "$DOCKER_CONFIG/images.json" prod
section "--metadata-file (exact references for a deploy step)"
cat "$DOCKER_CONFIG/images.json"
echo
section "Registry catalog"
curl -fsS "http://$FLOW_TEST_REGISTRY_PLAIN/v2/_catalog"; echo
