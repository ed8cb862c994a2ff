#!/usr/bin/env bash
# One command that reports on any GPU: runs the tests (once per kernel
# layout) and `bench --quick --report`, and writes DIR/README.md with the
# adapter, driver and limits, the test pass counts, each layout's table and
# targets, and the layouts side by side.
#
#   scripts/gpu-report.sh [DIR]        (default: target/gpu-report)
#
# The adapter is the one the crate picks (WGPU_BACKEND, WGPU_ADAPTER_NAME
# choose another). Commit a real GPU's report under benches/results/, named
# after the GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-target/gpu-report}"
mkdir -p "$dir"
# Mesa's EGL probes Wayland first and complains without a runtime dir.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-runtime-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
# A test that finds no adapter fails instead of skipping.
export CI=true

cargo build --release -p wgpu-activations-harness
bin=target/release/wgpu-activations

tests="$dir/tests.txt"
: >"$tests"
status=0
for layout in chunked coalesced; do
  log="$dir/tests-$layout.log"
  if WGPU_ACTIVATIONS_LAYOUT=$layout cargo test --workspace >"$log" 2>&1; then
    verdict=passed
  else
    verdict=FAILED
    status=1
  fi
  passed=$(grep -Eo '[0-9]+ passed' "$log" | awk '{s += $1} END {print s + 0}')
  failed=$(grep -Eo '[0-9]+ failed' "$log" | awk '{s += $1} END {print s + 0}')
  echo "- layout $layout: $verdict, $passed tests passed, $failed failed (\`cargo test --workspace\`, log: tests-$layout.log)" >>"$tests"
done

"$bin" bench --quick --report "$dir" | tee "$dir/bench.txt"

{
  echo "# wgpu-activations on $("$bin" info | sed -n 's/^adapter: *//p' | head -1)"
  echo
  echo "Written by \`scripts/gpu-report.sh\` on $(date -u +%Y-%m-%d) at commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)."
  echo
  echo "## Tests"
  echo
  cat "$tests"
  echo
  sed '1s/^# /## /' "$dir/bench.md"
} >"$dir/README.md"
echo "wrote $dir/README.md"
exit $status
