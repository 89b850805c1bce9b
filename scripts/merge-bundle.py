#!/usr/bin/env python3
"""Merges the kernels of bundle SRC into bundle DST (same chip and
compiler): SRC's variants replace DST's of the same name, cubins are copied.

    scripts/merge-bundle.py DST SRC

For trying variants compiled with other dma-compile options (e.g.
--keep-tiles) next to a full bundle."""
import json
import shutil
import sys
from pathlib import Path

dst, src = Path(sys.argv[1]), Path(sys.argv[2])
dm = json.loads((dst / "manifest.json").read_text())
sm = json.loads((src / "manifest.json").read_text())
for key in ("chip", "compiler", "format"):
    if dm[key] != sm[key]:
        sys.exit(f"merge-bundle: {key} differs: {dm[key]} vs {sm[key]}")
names = {v["name"] for v in sm["variants"]}
dm["variants"] = [v for v in dm["variants"] if v["name"] not in names]
dm["variants"] += sm["variants"]
for v in sm["variants"]:
    for key in ("cubin", "ptx"):
        shutil.copy2(src / v[key], dst / v[key])
(dst / "manifest.json").write_text(json.dumps(dm, indent=1))
print(f"merge-bundle: {len(names)} variants from {src} into {dst}")
