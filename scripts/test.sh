#!/usr/bin/env bash
# The project's one test command (the one README.md gives; CI runs it via .ci/run):
#
#   scripts/test.sh [extra args for `cargo test`]
#
# It starts the real test environment (a private dockerd, eight registries and
# three token servers on 127.0.0.1, see scripts/testenv.sh), makes its settings
# visible to the tests through the environment (DOCKER_HOST, FLOW_TEST_*),
# runs the format check, clippy and the whole test suite, and always stops
# the environment again on the way out - pass or fail, or Ctrl-C.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

section() { printf '\n==== %s ====\n' "$*"; }

stop_env() {
  local rc=$?
  section "Stopping the test environment"
  # The dir this run started, if `up` got that far; else whatever is current.
  scripts/testenv.sh down "${FLOW_TESTENV_DIR:-}" || true
  exit "$rc"
}
# Set before `up`, so a half-started environment is stopped too.
trap stop_env EXIT

section "Starting the test environment (scripts/testenv.sh up)"
scripts/testenv.sh up
# With FLOW_TESTENV_DIR set, its env file: `env` names the newest environment, which
# may be another run's that started meanwhile.
if [[ -n ${FLOW_TESTENV_DIR:-} ]]; then ENV_FILE=$FLOW_TESTENV_DIR/env; else ENV_FILE=$(scripts/testenv.sh env); fi
# shellcheck disable=SC1090 # the path is only known at run time
source "$ENV_FILE"
echo "DOCKER_HOST=$DOCKER_HOST"
echo "registries: plain=$FLOW_TEST_REGISTRY_PLAIN basic=$FLOW_TEST_REGISTRY_BASIC" \
  "tls=$FLOW_TEST_REGISTRY_TLS tlsbasic=$FLOW_TEST_REGISTRY_TLSBASIC token=$FLOW_TEST_REGISTRY_TOKEN" \
  "readonly=$FLOW_TEST_REGISTRY_READONLY plainrealm=$FLOW_TEST_REGISTRY_PLAINREALM" \
  "shorttoken=$FLOW_TEST_REGISTRY_SHORTTOKEN"

section "cargo fmt --all -- --check"
cargo fmt --all -- --check

section "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

section "cargo test --workspace${*:+ $*}"
cargo test --workspace "$@"

section "All checks passed"
