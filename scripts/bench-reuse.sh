#!/usr/bin/env bash
# Benchmark: reruns of `flow build --push` when little or nothing changed (issue 5).
#
# Six services (the project of scripts/bench-push.sh: ~24 MiB layer each), each built from
# its own folder, in a git repository, pushed to a FRESH loopback registry. Rows:
#   1. first run, cold (--no-cache): everything built and pushed
#   2. rerun, nothing changed, a new tag: every service reused (tags moved, no build, no upload)
#   3. a new commit that changes only README.md (ignored by .dockerignore): reused
#   4. a new commit that changes one service: that one built and pushed, five reused
# and, side by side, the docker CLI doing the same reruns (`docker build` with its cache, then
# `docker push`, one service after another), which is what a build script does today.
#
# Usage: scripts/bench-reuse.sh [RUNS]   (uses the test environment; starts it if needed)
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
FLOW=$PWD/target/release/flow

WORK=$(mktemp -d /tmp/flow-bench-reuse.XXXXXX)
# shellcheck source=lib/registry.sh
source scripts/lib/registry.sh
cleanup() {
  stop_registry
  rm -rf "$WORK"
}
trap cleanup EXIT

make_project() { # $1 = folder
  local p=$1
  mkdir -p "$p"
  {
    echo 'project "bench"'
    for i in $(seq 1 $SERVICES); do
      echo "service \"s$i\" { context \"s$i\"; dockerfile \"s$i/Dockerfile\"; build_args { BASE \"$FLOW_TEST_BASE_IMAGE\"; N \"$i\" } }"
    done
    echo 'stage "bench" {'
    for i in $(seq 1 $SERVICES); do echo "    service \"s$i\""; done
    echo '}'
  } >"$p/flow.kdl"
  for i in $(seq 1 $SERVICES); do
    mkdir -p "$p/s$i"
    cat >"$p/s$i/Dockerfile" <<DOCKERFILE
ARG BASE
FROM \${BASE} AS gen
ARG N
RUN yes "fleetflow benchmark payload for service \$N, line of text that compresses well" | head -c $PAYLOAD_BYTES > /payload.txt && date +%s%N >> /payload.txt
FROM \${BASE}
ARG N
COPY --from=gen /payload.txt /srv/payload.txt
COPY version /srv/version
DOCKERFILE
    echo 1 >"$p/s$i/version"
    echo '*.md' >"$p/s$i/.dockerignore"
    echo "# s$i" >"$p/s$i/README.md"
  done
  git -C "$p" init -q && git -C "$p" add -A &&
    git -C "$p" -c user.name=bench -c user.email=bench@invalid commit -qm bench
}
commit() { git -C "$1" -c user.name=bench -c user.email=bench@invalid commit -qam "$2"; }

export DOCKER_BUILDKIT=0
export DOCKER_CONFIG=$WORK/docker-config
mkdir -p "$DOCKER_CONFIG"
echo '{}' >"$DOCKER_CONFIG/config.json"
now() { date +%s.%N; }

docker_run() { # $1 = project, $2 = tag, $3 = extra docker build flag
  local t0; t0=$(now)
  for i in $(seq 1 $SERVICES); do
    docker build -q $3 --build-arg BASE="$FLOW_TEST_BASE_IMAGE" --build-arg N="$i" \
      -t "$REG/docker-s$i:$2" "$1/s$i" >/dev/null 2>&1
    docker push -q "$REG/docker-s$i:$2" >/dev/null
  done
  echo "$(now) - $t0" | bc
}

reused_count() { grep -c '"event":"reused"' "$1" || true; }

declare -a F1 F2 F3 F4 D1 D2 D3 D4 R2 R3 R4
for r in $(seq 1 "$RUNS"); do
  FP=$WORK/flow-$r; make_project "$FP"
  DP=$WORK/docker-$r; make_project "$DP"
  fresh_registry
  # flow
  t0=$(now); (cd "$FP" && "$FLOW" build --push --no-cache -q --registry "$REG" --tag v1 bench >/dev/null); F1+=("$(echo "$(now) - $t0" | bc)")
  t0=$(now); (cd "$FP" && "$FLOW" build --push --progress json --registry "$REG" --tag v2 bench >"$WORK/r2.json"); F2+=("$(echo "$(now) - $t0" | bc)"); R2+=("$(reused_count "$WORK/r2.json")")
  echo "docs" >>"$FP/s1/README.md"; commit "$FP" docs
  t0=$(now); (cd "$FP" && "$FLOW" build --push --progress json --registry "$REG" --tag v3 bench >"$WORK/r3.json"); F3+=("$(echo "$(now) - $t0" | bc)"); R3+=("$(reused_count "$WORK/r3.json")")
  echo 2 >"$FP/s1/version"; commit "$FP" change
  t0=$(now); (cd "$FP" && "$FLOW" build --push --progress json --registry "$REG" --tag v4 bench >"$WORK/r4.json"); F4+=("$(echo "$(now) - $t0" | bc)"); R4+=("$(reused_count "$WORK/r4.json")")
  # docker CLI, same steps
  D1+=("$(docker_run "$DP" v1 --no-cache)")
  D2+=("$(docker_run "$DP" v2 "")")
  echo "docs" >>"$DP/s1/README.md"
  D3+=("$(docker_run "$DP" v3 "")")
  echo 2 >"$DP/s1/version"
  D4+=("$(docker_run "$DP" v4 "")")
  echo "run $r/$RUNS: flow ${F1[-1]} ${F2[-1]} ${F3[-1]} ${F4[-1]}; docker ${D1[-1]} ${D2[-1]} ${D3[-1]} ${D4[-1]}" >&2
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
f1=$(median "${F1[@]}"); f2=$(median "${F2[@]}"); f3=$(median "${F3[@]}"); f4=$(median "${F4[@]}")
d1=$(median "${D1[@]}"); d2=$(median "${D2[@]}"); d3=$(median "${D3[@]}"); d4=$(median "${D4[@]}")
frac() { echo "scale=3; $1 / $f1" | bc; }

echo
echo "flow build --push reruns — $SERVICES services, ~24 MiB layer each, fresh loopback registry per run"
echo "machine: $(nproc) CPUs, engine $(docker version --format '{{.Server.Version}}'), runs: $RUNS (median)"
echo
printf '| %-58s | %9s | %12s | %7s | %15s |\n' "run" "flow (s)" "of 1st run" "reused" "docker CLI (s)"
printf '|%s|%s|%s|%s|%s|\n' "------------------------------------------------------------" "-----------" "--------------" "---------" "-----------------"
printf '| %-58s | %9.2f | %12s | %7s | %15.2f |\n' "1. first run, cold (--no-cache)" "$f1" "1.000" "0/$SERVICES" "$d1"
printf '| %-58s | %9.2f | %12s | %7s | %15.2f |\n' "2. rerun, nothing changed, new tag" "$f2" "$(frac "$f2")" "${R2[-1]}/$SERVICES" "$d2"
printf '| %-58s | %9.2f | %12s | %7s | %15.2f |\n' "3. new commit, only README.md (in .dockerignore) changed" "$f3" "$(frac "$f3")" "${R3[-1]}/$SERVICES" "$d3"
printf '| %-58s | %9.2f | %12s | %7s | %15.2f |\n' "4. new commit, one service changed" "$f4" "$(frac "$f4")" "${R4[-1]}/$SERVICES" "$d4"
echo
echo "docker CLI column: docker build (with its cache) && docker push, service after service"
