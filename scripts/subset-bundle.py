#!/usr/bin/env python3
"""Copies the variants of bundle SRC whose names match REGEX into a new
bundle DST (manifest, cubins, PTX), and prints their names: a small bundle
of the kernels a comparison needs (the old side of compare_bundles.py), to
carry beside a full one.

    scripts/subset-bundle.py SRC DST REGEX"""
import json
import re
import shutil
import sys
from pathlib import Path

src, dst, pattern = Path(sys.argv[1]), Path(sys.argv[2]), re.compile(sys.argv[3])
m = json.loads((src / "manifest.json").read_text())
m["variants"] = [v for v in m["variants"] if pattern.search(v["name"])]
dst.mkdir(parents=True, exist_ok=True)
for v in m["variants"]:
    for key in ("cubin", "ptx"):
        shutil.copy2(src / v[key], dst / v[key])
    print(v["name"])
(dst / "manifest.json").write_text(json.dumps(m, indent=1))
