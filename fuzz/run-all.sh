#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 600), one after the other, on one core,
# then minimizes each corpus. Needs cargo-fuzz; works on stable through RUSTC_BOOTSTRAP.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-600}"
export RUSTC_BOOTSTRAP=1
for target in ${TARGETS:-wire_decode batch_decode engine_receive}; do
    case "$target" in
        wire_decode) dict=(-dict=dict/wire.dict) ;;
        batch_decode) dict=(-dict=dict/batch.dict) ;;
        *) dict=() ;;
    esac
    echo "== $target for ${seconds}s"
    cargo fuzz run -s none -O "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 "${dict[@]}" \
        -print_final_stats=1 || echo "== $target stopped with a crash: see artifacts/$target"
    echo "== minimizing corpus/$target"
    cargo fuzz cmin -s none -O "$target" "corpus/$target"
done
