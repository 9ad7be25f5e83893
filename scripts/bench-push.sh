#!/usr/bin/env bash
# Benchmark: `flow build --push --no-cache` against the docker CLI doing the same work.
#
# Six services, each a multi-stage Dockerfile with a RUN step that writes a ~24 MiB
# compressible file and a final stage that copies it, built without cache and pushed to a
# FRESH loopback registry (a new docker-registry per run). Prints a table:
#   - sequential `docker build && docker push` per service (the baseline, ratio 1.00)
#   - the same six pipelines started by hand in parallel (what a perfect scheduler reaches)
#   - `flow build --push --no-cache`
# with wall time, ratio to the baseline and flow's peak RSS. Target (issue 3): flow <= 0.55x
# the baseline, peak RSS <= 100 MiB.
#
# Usage: scripts/bench-push.sh [RUNS]   (uses the test environment; starts it if needed)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-${BENCH_RUNS:-1}}
SERVICES=6
PAYLOAD_BYTES=$((24 * 1024 * 1024))

if ! env_file=$(scripts/testenv.sh env 2>/dev/null) || [ ! -f "$env_file" ]; then
  scripts/testenv.sh up
  env_file=$(scripts/testenv.sh env)
fi
# shellcheck disable=SC1090
source "$env_file"
cargo build --release -q -p fleetflow
# FLOW_ARGS: extra flags for flow (e.g. "-j 6") to compare schedules.
FLOW_ARGS=${FLOW_ARGS:-}
FLOW=$PWD/target/release/flow

WORK=$(mktemp -d /tmp/flow-bench.XXXXXX)
# shellcheck source=lib/registry.sh
source scripts/lib/registry.sh
cleanup() {
  stop_registry
  rm -rf "$WORK"
}
trap cleanup EXIT

# The project: six services, one Dockerfile each.
PROJ=$WORK/project
mkdir -p "$PROJ"
{
  echo 'project "bench"'
  for i in $(seq 1 $SERVICES); do
    echo "service \"s$i\" { build_args { BASE \"$FLOW_TEST_BASE_IMAGE\"; N \"$i\" } }"
  done
  echo 'stage "bench" {'
  for i in $(seq 1 $SERVICES); do echo "    service \"s$i\""; done
  echo '}'
} >"$PROJ/flow.kdl"
for i in $(seq 1 $SERVICES); do
  cat >"$PROJ/Dockerfile.s$i" <<DOCKERFILE
ARG BASE
FROM \${BASE} AS gen
ARG N
RUN yes "fleetflow benchmark payload for service \$N, line of text that compresses well" | head -c $PAYLOAD_BYTES > /payload.txt && date +%s%N >> /payload.txt
FROM \${BASE}
ARG N
COPY --from=gen /payload.txt /srv/payload.txt
RUN echo "\$N" > /srv/id
DOCKERFILE
done

# The same project as a git repository: flow then adds the OCI labels (one LABEL step per
# image), which the docker CLI script does not do. Shown as its own row.
GITPROJ=$WORK/project-git
cp -r "$PROJ" "$GITPROJ"
git -C "$GITPROJ" init -q && git -C "$GITPROJ" add -A &&
  git -C "$GITPROJ" -c user.name=bench -c user.email=bench@invalid commit -qm bench


export DOCKER_BUILDKIT=0   # the classic builder, the one flow drives through the Engine API
export DOCKER_CONFIG=$WORK/docker-config
mkdir -p "$DOCKER_CONFIG"
echo '{"auths":{"bench.invalid":{"auth":"eDp5"}}}' >"$DOCKER_CONFIG/config.json"

now() { date +%s.%N; }

one_pipeline() { # $1 = service number
  docker build -q --no-cache --build-arg BASE="$FLOW_TEST_BASE_IMAGE" --build-arg N="$1" \
    -f "$PROJ/Dockerfile.s$1" -t "$REG/bench-s$1:seq" "$PROJ" >/dev/null 2>&1
  docker push -q "$REG/bench-s$1:seq" >/dev/null
}

run_sequential() {
  local t0; t0=$(now)
  for i in $(seq 1 $SERVICES); do one_pipeline "$i"; done
  echo "$(now) - $t0" | bc
}

run_parallel_by_hand() {
  local t0 pids=(); t0=$(now)
  for i in $(seq 1 $SERVICES); do one_pipeline "$i" & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p"; done
  echo "$(now) - $t0" | bc
}

# flow, with its peak RSS from getrusage of the child.
run_flow() { # $1 = project folder
  python3 - "$FLOW" "$1" "$REG" "$FLOW_ARGS" <<'PY'
import resource, subprocess, sys, time
flow, proj, reg = sys.argv[1:4]
extra = sys.argv[4].split() if len(sys.argv) > 4 else []
t0 = time.monotonic()
r = subprocess.run([flow, "build", "--push", "--no-cache", "-q", "--registry", reg, "--tag", "flow", *extra, "bench"],
                   cwd=proj, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
wall = time.monotonic() - t0
if r.returncode != 0:
    sys.exit("flow failed: " + r.stderr.decode())
rss_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(f"{wall:.2f} {rss_mib:.1f}")
PY
}

declare -a SEQ PAR FLOWT FLOWRSS GITT
# Warm the page cache and the engine once, unmeasured.
fresh_registry; one_pipeline 1
for r in $(seq 1 "$RUNS"); do
  fresh_registry; SEQ+=("$(run_sequential)")
  fresh_registry; PAR+=("$(run_parallel_by_hand)")
  fresh_registry; read -r t rss < <(run_flow "$PROJ"); FLOWT+=("$t"); FLOWRSS+=("$rss")
  fresh_registry; read -r gt _ < <(run_flow "$GITPROJ"); GITT+=("$gt")
  echo "run $r/$RUNS: sequential ${SEQ[-1]}s, parallel by hand ${PAR[-1]}s, flow ${t}s (${rss} MiB), flow in git ${gt}s" >&2
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
seq_m=$(median "${SEQ[@]}"); par_m=$(median "${PAR[@]}"); flow_m=$(median "${FLOWT[@]}"); rss_m=$(median "${FLOWRSS[@]}")
git_m=$(median "${GITT[@]}")
ratio() { echo "scale=2; $1 / $seq_m" | bc; }

echo
echo "flow build --push vs docker CLI — $SERVICES services, ~24 MiB compressible layer each, --no-cache, fresh loopback registry"
echo "machine: $(nproc) CPUs, engine $(docker version --format '{{.Server.Version}}'), runs: $RUNS (median)"
echo
printf '| %-52s | %8s | %9s | %13s |\n' "command" "wall (s)" "vs script" "peak RSS (MiB)"
printf '|%s|%s|%s|%s|\n' "------------------------------------------------------" "----------" "-----------" "----------------"
printf '| %-52s | %8.2f | %9s | %13s |\n' "docker build && docker push, one after another" "$seq_m" "1.00" "-"
printf '| %-52s | %8.2f | %9s | %13s |\n' "the same six pipelines by hand, all in parallel" "$par_m" "$(ratio "$par_m")" "-"
printf '| %-52s | %8.2f | %9s | %13s |\n' "flow build --push --no-cache" "$flow_m" "$(ratio "$flow_m")" "$rss_m"
printf '| %-52s | %8.2f | %9s | %13s |\n' "flow build --push --no-cache, git project (+OCI labels)" "$git_m" "$(ratio "$git_m")" "-"
echo
echo "targets: flow <= 0.55 x the script; flow peak RSS <= 100 MiB"
