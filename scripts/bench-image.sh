#!/usr/bin/env bash
# Benchmark: `flow image push` / `flow image pull` against skopeo (and `docker push`).
#
# The image: a 512 MiB `docker save` tar, FROM scratch with four 128 MiB layers (three of
# random bytes, one of generated text that compresses like text), built with the private
# dockerd of a test environment this script starts for itself. Each measured run gets a
# FRESH loopback registry (a new `docker-registry serve` with new storage, on a free port):
#   - push:          flow image push TAR vs skopeo copy docker-archive:TAR vs docker push
#   - pull:          flow image pull (fresh empty cache) vs skopeo copy docker://... dir:FRESH
#   - repeated push: the same push a second time, every blob already there (flow: same
#                    cache dir as its first push; skopeo: for reference)
# Prints a Markdown table: median wall time of RUNS runs, ratio to skopeo, peak RSS (the
# largest over the runs, from /usr/bin/time -f %M) for flow and skopeo.
# Targets (the issue): push <= 0.5 x skopeo, pull <= 1.0 x skopeo, repeated push < 1 s,
# flow peak RSS <= 64 MiB.
#
# Usage: scripts/bench-image.sh [RUNS]   (default 3; needs root for the test environment)
# Progress goes to stderr, the table to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-${BENCH_RUNS:-3}}
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [RUNS]" >&2; exit 2; }
LAYER_BYTES=$((128 * 1024 * 1024))
NEED_GIB=8 # tar + build context + dockerd's copy + a registry + a cache, with room to spare

say() { printf '[bench-image] %s\n' "$*" >&2; }

free_gib=$(df -P -BG /tmp | awk 'NR==2 {sub("G","",$4); print $4}')
((free_gib >= NEED_GIB)) || { say "need ${NEED_GIB} GiB free in /tmp, have ${free_gib} GiB"; exit 1; }
if [[ ! -x /usr/bin/time ]]; then
  say "installing GNU time (/usr/bin/time)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
fi

WORK=$(mktemp -d /tmp/flow-bench-image.XXXXXX)
TESTENV_DIR=
cleanup() {
  set +e
  declare -F stop_registry >/dev/null && stop_registry
  [[ -n $TESTENV_DIR ]] && scripts/testenv.sh down "$TESTENV_DIR" >&2
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "building flow (release)"
cargo build --release -q -p fleetflow
FLOW=$PWD/target/release/flow

# Our own test environment, in its own dir (another one may be running: we leave it alone,
# and point /tmp/flow-testenv.current back at it, which our `up` moved to ours).
prev_env=$(readlink /tmp/flow-testenv.current 2>/dev/null || true)
TESTENV_DIR=$(mktemp -d /tmp/flow-testenv.XXXXXX)
say "starting a test environment in $TESTENV_DIR"
FLOW_TESTENV_DIR=$TESTENV_DIR scripts/testenv.sh up 2>"$WORK/testenv-up.log" ||
  { tail -n 30 "$WORK/testenv-up.log" >&2; exit 1; }
if [[ -n $prev_env && -d $prev_env ]]; then ln -sfn "$prev_env" /tmp/flow-testenv.current; fi
# shellcheck disable=SC1091
source "$TESTENV_DIR/env"

export DOCKER_BUILDKIT=0
export DOCKER_CONFIG=$WORK/docker-config # a dummy auths entry: no credential store lookups
mkdir -p "$DOCKER_CONFIG"
echo '{"auths":{"bench.invalid":{"auth":"eDp5"}}}' >"$DOCKER_CONFIG/config.json"
echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$WORK/policy.json"
SKOPEO=(skopeo --policy "$WORK/policy.json")

# ---------------------------------------------------------------- the image --
say "making the four 128 MiB layer files"
CTX=$WORK/ctx
mkdir -p "$CTX"
for i in 1 2 3; do head -c "$LAYER_BYTES" /dev/urandom >"$CTX/random$i.bin"; done
python3 - "$LAYER_BYTES" >"$CTX/text.txt" <<'PY'
import random, sys
size = int(sys.argv[1])
rng = random.Random(20240501)
syl = "ka lo mi ne ru sa ti vo ba de fi gu ha jo po qui ze xa tor len mar sen".split()
words = ["".join(rng.choice(syl) for _ in range(rng.randint(1, 4))) for _ in range(8000)]
out, n, i = sys.stdout.buffer, 0, 0
while n < size:
    lines = []
    for _ in range(2000):
        i += 1
        lines.append(f"{i:09d} {' '.join(rng.choices(words, k=rng.randint(4, 12)))} = {rng.randint(0, 999999)}\n")
    chunk = "".join(lines).encode()[: size - n]
    out.write(chunk)
    n += len(chunk)
PY
cat >"$CTX/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY random1.bin /data/random1.bin
COPY random2.bin /data/random2.bin
COPY random3.bin /data/random3.bin
COPY text.txt /data/text.txt
DOCKERFILE
text_gz_mib=$(gzip -1 -c "$CTX/text.txt" | wc -c | awk '{printf "%.0f", $1/1048576}')
say "text layer file: gzip -1 makes 128 MiB into ${text_gz_mib} MiB"
say "building and saving the image"
docker build -q -t bench/app:1 "$CTX" >/dev/null
rm -rf "$CTX"
TAR=$WORK/app.tar
docker save -o "$TAR" bench/app:1
say "tar: $(du -m "$TAR" | cut -f1) MiB"
cat "$TAR" >/dev/null # into the page cache, so the first measured tool doesn't pay for it

# -------------------------------------------------------------- registries --
source scripts/lib/registry.sh

# ---------------------------------------------------------------- measuring --
declare -A WALL RSS FAILS
ERRORS=$WORK/errors
: >"$ERRORS"
# measure KEY CMD...: run CMD under /usr/bin/time; append its wall time and peak RSS to
# WALL[KEY] / RSS[KEY]. A failure is recorded (exit code and stderr) and does not stop us.
measure() {
  local key=$1 tf=$WORK/time.out ef=$WORK/stderr.out rc=0
  shift
  /usr/bin/time -f '%e %M' -o "$tf" "$@" >"$WORK/stdout.out" 2>"$ef" || rc=$?
  if ((rc != 0)); then
    FAILS[$key]=$((${FAILS[$key]:-0} + 1))
    { echo "### $key (run $run): exit $rc"; echo '$ '"$*"; cat "$ef"; echo; } >>"$ERRORS"
    say "FAILED: $key (exit $rc): $(tail -n 3 "$ef" | tr '\n' ' ')"
    return 1
  fi
  local wall rss
  read -r wall rss < <(tail -n 1 "$tf")
  WALL[$key]="${WALL[$key]:-} $wall"
  RSS[$key]="${RSS[$key]:-} $rss"
  say "  $key: ${wall}s, $((rss / 1024)) MiB"
}

# docker push as one command for /usr/bin/time (a shell function can't be timed by it).
# Its RSS would be the CLI's only (the daemon does the work): not shown.
DOCKER_PUSH='set -e; docker tag bench/app:1 "$1/bench/app:1"; docker push -q "$1/bench/app:1" >/dev/null; docker rmi "$1/bench/app:1" >/dev/null'

run=0
for run in $(seq 1 "$RUNS"); do
  say "run $run/$RUNS"
  # push, and the repeated push against the same registry with the same cache
  fresh_registry
  cache=$WORK/flow-cache-push
  rm -rf "$cache"
  if measure "push flow" "$FLOW" image push -q --cache-dir "$cache" "$TAR" "$REG/bench/app:1"; then
    if ((run == 1)); then
      say "  flow printed: $(cat "$WORK/stdout.out")"
      if "${SKOPEO[@]}" inspect --tls-verify=false "docker://$REG/bench/app:1" >"$WORK/inspect.json" 2>&1; then
        say "  skopeo inspect of flow's push: ok, $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["Layers"]))' "$WORK/inspect.json") layers"
      else
        say "  skopeo inspect of flow's push FAILED: $(cat "$WORK/inspect.json")"
      fi
    fi
    measure "repeated push flow" "$FLOW" image push -q --cache-dir "$cache" "$TAR" "$REG/bench/app:1" || true
  fi
  rm -rf "$cache"
  fresh_registry
  if measure "push skopeo" "${SKOPEO[@]}" copy -q docker-archive:"$TAR" "docker://$REG/bench/app:1" --dest-tls-verify=false; then
    measure "repeated push skopeo" "${SKOPEO[@]}" copy -q docker-archive:"$TAR" "docker://$REG/bench/app:1" --dest-tls-verify=false || true
  fi
  fresh_registry
  measure "push docker" bash -c "$DOCKER_PUSH" docker-push "$REG" || true

  # pull: one fresh registry, seeded by skopeo (unmeasured); each tool into a fresh dest
  fresh_registry
  "${SKOPEO[@]}" copy -q docker-archive:"$TAR" "docker://$REG/bench/app:1" --dest-tls-verify=false
  cache=$WORK/flow-cache-pull
  rm -rf "$cache"
  measure "pull flow" "$FLOW" image pull -q --cache-dir "$cache" "$REG/bench/app:1" || true
  rm -rf "$cache"
  dest=$WORK/skopeo-dir
  rm -rf "$dest"
  measure "pull skopeo" "${SKOPEO[@]}" copy -q --src-tls-verify=false "docker://$REG/bench/app:1" "dir:$dest" || true
  rm -rf "$dest"
done
stop_registry

# ------------------------------------------------------------------- table --
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {printf "%.2f", (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
maxrss() { printf '%s\n' "$@" | sort -n | tail -n 1 | awk '{printf "%.1f", $1/1024}'; }
row() { # OP TOOL BASEKEY
  local key="$1 $2" base="$1 skopeo" m r b rss
  # shellcheck disable=SC2086
  if [[ -z ${WALL[$key]:-} ]]; then
    m="failed"; r="-"; rss="-"
  else
    m=$(median ${WALL[$key]})
    if [[ -n ${WALL[$base]:-} ]]; then
      b=$(median ${WALL[$base]})
      r=$(awk -v a="$m" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    else r="-"; fi
    if [[ $2 == docker ]]; then rss="-"; else rss=$(maxrss ${RSS[$key]}); fi
  fi
  [[ -n ${FAILS[$key]:-} ]] && m="$m (${FAILS[$key]} failed)"
  printf '| %-13s | %-6s | %13s | %16s | %12s |\n' "$1" "$2" "$m" "$r" "$rss"
}

mem_gib=$(free -g | awk '/^Mem:/ {print $2}')
model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
tar_mib=$(du -m "$TAR" | cut -f1)
echo
echo "## flow image push/pull vs skopeo — ${tar_mib} MiB docker save tar (3 x 128 MiB random + 128 MiB text layers), fresh loopback registry per run"
echo
echo "Targets (issue): push <= 0.5 x skopeo, pull <= 1.0 x skopeo, repeated push < 1 s, flow peak RSS <= 64 MiB"
echo
echo "machine: $(nproc) CPUs, ${model}, ${mem_gib} GiB RAM (free -g total)"
echo "versions: $("$FLOW" --version); $(skopeo --version); $(docker-registry --version); dockerd: $(dockerd --version)"
echo "runs: $RUNS (median wall time; peak RSS = largest of the runs)"
echo
printf '| %-13s | %-6s | %13s | %16s | %12s |\n' "operation" "tool" "median wall s" "ratio vs skopeo" "peak RSS MiB"
printf '|%s|%s|%s|%s|%s|\n' "---------------" "--------" "--------------:" "-----------------:" "-------------:"
row push flow
row push skopeo
row push docker
row pull flow
row pull skopeo
row "repeated push" flow
row "repeated push" skopeo
if [[ -s $ERRORS ]]; then
  echo
  echo "Failures:"
  echo
  echo '```'
  cat "$ERRORS"
  echo '```'
fi
