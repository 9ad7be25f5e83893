#!/usr/bin/env bash
# Fuzz every cargo-fuzz target in fuzz/ for a bounded time, one after the other.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# SECONDS_PER_TARGET defaults to 60; the targets default to all of them. Needs a nightly
# toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`). Each target starts
# from its committed seeds (fuzz/seeds/<target>/), copied into the scratch corpus
# fuzz/corpus/<target>/ (gitignored), which keeps what the fuzzer finds between runs.
# Stops at the first crash, naming the input in fuzz/artifacts/<target>/ and the
# commands to reproduce and minimise it. Exit status: 0 clean, 1 crash, 2 usage/build.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUZZ="$ROOT/fuzz"
ALL_TARGETS=(reference challenge manifest flow_kdl archive)

SECONDS_PER_TARGET="${1:-60}"
if ! [[ "$SECONDS_PER_TARGET" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]" >&2
    echo "targets: ${ALL_TARGETS[*]}" >&2
    exit 2
fi
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=("${ALL_TARGETS[@]}")
for t in "${TARGETS[@]}"; do
    if [ ! -f "$FUZZ/fuzz_targets/$t.rs" ]; then
        echo "error: no fuzz target \`$t\` (targets: ${ALL_TARGETS[*]})" >&2
        exit 2
    fi
done

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "error: needs a nightly toolchain and cargo-fuzz:" >&2
    echo "  rustup toolchain install nightly && cargo install cargo-fuzz --locked" >&2
    exit 2
fi

cd "$ROOT"
echo "==> building fuzz targets (cargo +nightly fuzz build)"
if ! cargo +nightly fuzz build 2>"$FUZZ/build.log"; then
    cat "$FUZZ/build.log" >&2
    echo "error: building the fuzz targets failed" >&2
    exit 2
fi
rm -f "$FUZZ/build.log"

LOGS="$FUZZ/target/fuzz-logs"
SCRATCH="$FUZZ/target/fuzz-tmp"
mkdir -p "$LOGS"

rows=()
crashed=""
total_start=$(date +%s)
for t in "${TARGETS[@]}"; do
    corpus="$FUZZ/corpus/$t"
    mkdir -p "$corpus" "$FUZZ/artifacts/$t"
    cp -n "$FUZZ/seeds/$t/"* "$corpus/" 2>/dev/null || true
    log="$LOGS/$t.log"
    find "$FUZZ/artifacts/$t" -type f | sort >"$LOGS/$t.before"
    echo "==> $t: ${SECONDS_PER_TARGET}s (corpus fuzz/corpus/$t, log ${log#"$ROOT"/})"
    # The targets' temp dirs (one per process) go to a scratch TMPDIR, removed after.
    rm -rf "$SCRATCH" && mkdir -p "$SCRATCH"
    start=$(date +%s)
    status=0
    TMPDIR="$SCRATCH" cargo +nightly fuzz run "$t" "$corpus" -- \
        -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=30 \
        -print_final_stats=1 >"$log" 2>&1 || status=$?
    secs=$(( $(date +%s) - start ))
    rm -rf "$SCRATCH"
    execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -1)
    if [ -z "$execs" ]; then
        execs=$(sed -n 's/^#\([0-9]*\)[[:space:]]*DONE.*/\1/p' "$log" | tail -1)
    fi
    new_artifacts=$(find "$FUZZ/artifacts/$t" -type f | sort | comm -13 "$LOGS/$t.before" -)
    crashes=$(printf '%s' "$new_artifacts" | grep -c . || true)
    if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
        crashes=1
    fi
    rows+=("$t|$secs|${execs:-?}|$crashes")
    if [ "$status" -ne 0 ]; then
        crashed="$t"
        artifact=$(printf '%s\n' "$new_artifacts" | head -1)
        echo
        echo "!!! CRASH in fuzz target \`$t\` (libFuzzer exit status $status)"
        grep -m1 -E "panicked at|ERROR: (libFuzzer|AddressSanitizer)|SUMMARY:" "$log" || true
        grep -A3 -m1 "panicked at" "$log" | tail -n +2 || true
        if [ -n "$artifact" ]; then
            rel="${artifact#"$ROOT"/}"
            echo "    input:     $rel"
            echo "    reproduce: cargo +nightly fuzz run $t $rel"
            echo "    minimise:  cargo +nightly fuzz tmin $t $rel"
        fi
        echo "    full log:  ${log#"$ROOT"/}"
        break
    fi
done
total=$(( $(date +%s) - total_start ))

echo
printf '%-10s %8s %12s %8s\n' target seconds executions crashes
printf '%-10s %8s %12s %8s\n' ---------- -------- ------------ --------
for r in "${rows[@]}"; do
    IFS='|' read -r t s e c <<<"$r"
    printf '%-10s %8s %12s %8s\n' "$t" "$s" "$e" "$c"
done
echo "total: ${total}s"

if [ -n "$crashed" ]; then
    echo "stopped at the first crash (\`$crashed\`); targets after it did not run" >&2
    exit 1
fi
