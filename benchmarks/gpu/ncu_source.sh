# Sourced by the ncu_*.sh scripts: one Nsight Compute report of a kernel,
# read back as text.
#
#   ncu_source NAME KERNEL_REGEX LAUNCH_SKIP PYTHON_CODE
#
# profiles the first launch of a kernel matching KERNEL_REGEX after
# LAUNCH_SKIP others while `python3 -c PYTHON_CODE` runs (from the repo
# root), and writes $out/ncu-NAME-details.txt (the details page) and
# $out/ncu-NAME-sass.csv (warp-state samples and counters per SASS
# instruction); the report itself is removed, the run's log kept as
# $out/ncu-NAME-run.log. `out` is the caller's output folder.
ncu_source() {
  local name="$1" regex="$2" skip="$3" code="$4"
  ncu --kernel-name "regex:$regex" --launch-skip "$skip" --launch-count 1 \
      --section SourceCounters --section WarpStateStats --section SpeedOfLight \
      --section Occupancy --section LaunchStats --import-source no -f \
      -o "$out/ncu-$name" python3 -c "$code" > "$out/ncu-$name-run.log" 2>&1
  ncu --import "$out/ncu-$name.ncu-rep" --page details > "$out/ncu-$name-details.txt"
  ncu --import "$out/ncu-$name.ncu-rep" --page source --csv --print-source sass \
      > "$out/ncu-$name-sass.csv"
  rm -f "$out/ncu-$name.ncu-rep"
}
