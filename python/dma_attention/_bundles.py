"""Finding kernel bundles, and compiling missing variants on demand.

A variant is looked for in, in order: the `bundle` argument, $DMA_KERNEL_DIR
and the on-demand cache. When none has it and the compiler (dma-compile) is
installed, it is compiled into the cache, a directory keyed by the chip and
the compiler version, so a cached variant loads without compiling again.
"""

import json
import os
import shutil
import subprocess
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
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    return str(abs(hash(out + str(Path(exe).stat().st_mtime))))[:12]


def cache_dir(chip, exe):
    root = Path(os.environ.get("DMA_CACHE_DIR",
                               Path.home() / ".cache" / "dma_attention"))
    return root / chip / _compiler_version(exe)


def find(variant, chip, bundle=None):
    """A directory holding `variant`, compiling it on demand if possible."""
    searched = []
    for directory in (bundle, os.environ.get("DMA_KERNEL_DIR")):
        if directory:
            searched.append(str(directory))
            if variant in _variants_in(directory):
                return str(directory)
    exe = compiler()
    if exe is None:
        raise LookupError(
            f"no kernel bundle has variant '{variant}' (searched: "
            f"{', '.join(searched) or 'nothing: pass bundle= or set DMA_KERNEL_DIR'}) "
            "and the compiler (dma-compile) is not installed to build it")
    cache = cache_dir(chip, exe)
    if variant in _variants_in(cache):
        return str(cache)
    wanted = sorted(_variants_in(cache) | {variant})
    staging = cache.with_name(cache.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    cmd = [exe, "-o", str(staging), f"--chip={chip}"]
    for name in wanted:
        cmd += ["--variant", name]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"compiling variant '{variant}' failed:\n"
                           f"{result.stderr or result.stdout}")
    shutil.rmtree(cache, ignore_errors=True)
    staging.rename(cache)
    return str(cache)
