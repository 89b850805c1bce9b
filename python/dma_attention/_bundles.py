"""Finding kernel bundles, and compiling missing variants on demand.

A variant is looked for in, in order: the `bundle` argument, $DMA_KERNEL_DIR,
the bundle shipped in the package for the GPU's chip (bundles/<chip>/, see
setup.py) and the on-demand cache. When none has it and the compiler
(dma-compile) is installed, it is compiled into the cache, a directory keyed
by the chip and the compiler version, so a cached variant loads without
compiling again.
"""

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

_manifests = {}


def manifest_stamp(directory):
    try:
        return (Path(directory) / "manifest.json").stat().st_mtime_ns
    except OSError:
        return None


def _variants_in(directory):
    path = Path(directory) / "manifest.json"
    try:
        stamp = path.stat().st_mtime
    except OSError:
        return set()
    cached = _manifests.get(path)
    if cached and cached[0] == stamp:
        return cached[1]
    try:
        names = {v["name"] for v in json.loads(path.read_text())["variants"]}
    except (OSError, ValueError, KeyError):
        names = set()
    _manifests[path] = (stamp, names)
    return names


def compiler():
    """The dma-compile executable, or None."""
    env = os.environ.get("DMA_COMPILER")
    if env and Path(env).exists():
        return env
    found = shutil.which("dma-compile")
    if found:
        return found
    here = Path(__file__).resolve().parents[2] / "build" / "bin" / "dma-compile"
    return str(here) if here.exists() else None


def _compiler_version(exe):
    """A stable key of the compiler build: its --version text and binary."""
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    st = Path(exe).stat()
    key = f"{out}|{st.st_size}|{st.st_mtime_ns}".encode()
    return hashlib.sha256(key).hexdigest()[:16]


def cache_dir(chip, exe):
    root = Path(os.environ.get("DMA_CACHE_DIR",
                               Path.home() / ".cache" / "dma_attention"))
    return root / chip / _compiler_version(exe)


def _add_to_cache(cache, staging):
    """Merges the bundle in `staging` (one variant) into `cache`."""
    cache.mkdir(parents=True, exist_ok=True)
    new = json.loads((staging / "manifest.json").read_text())
    for entry in new["variants"]:
        for key in ("cubin", "ptx"):
            shutil.copyfile(staging / entry[key], cache / entry[key])
    path = cache / "manifest.json"
    try:
        merged = json.loads(path.read_text())
    except (OSError, ValueError):
        merged = dict(new, variants=[])
    names = {e["name"] for e in new["variants"]}
    merged["variants"] = [e for e in merged["variants"]
                          if e["name"] not in names] + new["variants"]
    tmp = path.with_name(f"manifest.json.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(merged, indent=1))
    os.replace(tmp, path)  # readers see the old or the new manifest, whole


SHIPPED = Path(__file__).resolve().parent / "bundles"


def shipped_for(chip):
    """The package's bundle for `chip`: its own (sm_90a on Hopper), else the
    sm_80 one (its cubins run on every 8.x GPU, its PTX is compiled by the
    driver for newer ones), or None."""
    for name in (chip, "sm_80"):
        if (SHIPPED / name / "manifest.json").exists():
            return SHIPPED / name
    return None


def shipped_bundles():
    """Every bundle shipped in the package."""
    if not SHIPPED.is_dir():
        return []
    return sorted(p for p in SHIPPED.iterdir()
                  if (p / "manifest.json").exists())


def find(variant, chip, bundle=None):
    """A directory holding `variant`, compiling it on demand if possible."""
    searched = []
    for directory in (bundle, os.environ.get("DMA_KERNEL_DIR"),
                      shipped_for(chip)):
        if directory:
            searched.append(str(directory))
            if variant in _variants_in(directory):
                return str(directory)
    exe = compiler()
    if exe is None:
        raise LookupError(
            f"no kernel bundle has variant '{variant}' (searched: "
            f"{', '.join(searched) or 'nothing: pass bundle=, set DMA_KERNEL_DIR or install the package with a bundle'}) "
            "and the compiler (dma-compile) is not installed to build it")
    cache = cache_dir(chip, exe)
    if variant in _variants_in(cache):
        return str(cache)
    cache.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="compile-", dir=cache.parent))
    try:
        cmd = [exe, "-o", str(staging), f"--chip={chip}", "--variant", variant]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"compiling variant '{variant}' failed:\n"
                               f"{result.stderr or result.stdout}")
        _add_to_cache(cache, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return str(cache)
