#!/usr/bin/env bash
# Fuzzes paywatch's decoders of untrusted input with libFuzzer (cargo-fuzz):
# each target in fuzz/ runs for FUZZ_SECS seconds (default 30; 0 skips),
# its corpus seeded from the real fixtures in $PAYWATCH_FIXTURES.
#   bash scripts/fuzz.sh                 every target
#   bash scripts/fuzz.sh evm_block       one target
#   FUZZ_SECS=3600 bash scripts/fuzz.sh  longer
# Installs the nightly toolchain and cargo-fuzz when missing. The corpus
# grows across runs in $CARGO_TARGET_DIR/fuzz-corpus. An input that fails a
# check is left in fuzz/artifacts/<target>/; keep it in
# fuzz/regressions/<target>/ once fixed, and `cargo test --test it fuzz_inputs::`
# runs it from then on.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
FUZZ_SECS="${FUZZ_SECS:-30}"
if [ "$FUZZ_SECS" = 0 ]; then
    echo "fuzzing skipped (FUZZ_SECS=0)"
    exit 0
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(pwd)/target}"
export PAYWATCH_FIXTURES="${PAYWATCH_FIXTURES:-$(pwd)/../shared/fixtures}"
CARGO_FUZZ_VERSION="0.13.2"

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "installing the nightly toolchain (cargo-fuzz needs it)"
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
    echo "installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

corpus="$CARGO_TARGET_DIR/fuzz-corpus"
mkdir -p "$corpus"
# The seeds, written by the test that also checks them.
PAYWATCH_FUZZ_CORPUS="$corpus" cargo test --release --quiet --test it \
    fuzz_inputs::every_seed_passes_its_target >/dev/null

targets=("$@")
if ((${#targets[@]} == 0)); then
    mapfile -t targets < <(cargo +nightly fuzz list --fuzz-dir fuzz)
fi
# RocksDB's C++ is the longest part of a cold build (and is not instrumented
# by the fuzz build anyway): link the library that `cargo test --release`
# compiled into the same target dir instead of compiling it again: the
# newest one, when both lock files pin the same librocksdb-sys. Otherwise
# the fuzz build compiles its own.
rocksdb_version() { grep -A1 '^name = "librocksdb-sys"$' "$1" | sed -n 's/^version = //p'; }
rocksdb_lib="$(ls -t "$CARGO_TARGET_DIR"/release/build/librocksdb-sys-*/out/librocksdb.a 2>/dev/null | head -n 1 || true)"
if [ -n "$rocksdb_lib" ] && [ -z "${ROCKSDB_LIB_DIR:-}" ] &&
    [ "$(rocksdb_version Cargo.lock)" = "$(rocksdb_version fuzz/Cargo.lock)" ]; then
    export ROCKSDB_LIB_DIR="${rocksdb_lib%/librocksdb.a}" ROCKSDB_STATIC=1
    # librocksdb-sys names the C++ runtime only when it compiles RocksDB.
    export RUSTFLAGS="${RUSTFLAGS:-} -C link-arg=-lstdc++"
    echo "fuzz build: linking RocksDB from $ROCKSDB_LIB_DIR"
fi
cargo +nightly fuzz build --fuzz-dir fuzz
for t in "${targets[@]}"; do
    mkdir -p "$corpus/$t" "fuzz/regressions/$t"
    # Node answers: the seeds hold whole blocks of about 1 MB, but small
    # inputs run a hundred times faster; longer seeds are cut to this.
    case "$t" in
        bitcoin_block | evm_block | tron_block | rpc_answer) max_len=65536 ;;
        *) max_len=16384 ;;
    esac
    echo "fuzzing $t for ${FUZZ_SECS}s"
    # The kept regressions join the corpus (cut to max_len; the test
    # fuzz_inputs runs them whole); new inputs go to the first folder only.
    if ! cargo +nightly fuzz run --fuzz-dir fuzz "$t" "$corpus/$t" "fuzz/regressions/$t" -- \
        -max_total_time="$FUZZ_SECS" -max_len="$max_len" -rss_limit_mb=4096 -timeout=10 \
        -print_final_stats=1 >"$CARGO_TARGET_DIR/fuzz-$t.log" 2>&1; then
        tail -n 60 "$CARGO_TARGET_DIR/fuzz-$t.log"
        echo "fuzz target $t failed: the input is in fuzz/artifacts/$t/" >&2
        exit 1
    fi
    grep -E '^stat::(number_of_executed_units|peak_rss_mb)|^#[0-9]+.*DONE' "$CARGO_TARGET_DIR/fuzz-$t.log" | tr '\n' ' '
    echo
done
