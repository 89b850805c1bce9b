#!/usr/bin/env bash
# Runs the lit suite, then ctest; fails if either failed. ctest's summary
# ("100% tests passed, 0 tests failed out of N") is the last line printed.
set -u
lit="$1"; lit_dir="$2"; build_dir="$3"
"$lit" -sv "$lit_dir"
lit_status=$?
(cd "$build_dir" && ctest --output-on-failure -j "$(nproc)")
ctest_status=$?
if [ $lit_status -ne 0 ]; then
  echo "lit tests FAILED (see above)"
  # Repeat ctest's verdict as the final line for CI.
  exit 1
fi
exit $ctest_status
