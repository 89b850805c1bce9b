"""Builds the dma_attention package: the CUDA runtime and a kernel bundle.

    pip install --no-build-isolation ./python      # from the repository root

build_py runs first as usual, then:
1. the runtime (runtime/, plain CMake + the CUDA toolkit's headers, no
   MLIR) is configured, built and its libdma_runtime.so copied into the
   package;
2. a kernel bundle goes into dma_attention/bundles/<chip>/:
   - $DMA_BUNDLE_DIR: a bundle directory (manifest.json inside; its chip is
     read from the manifest) or a directory of them, copied as they are;
   - else dma-compile ($DMA_COMPILER, build/bin/dma-compile, or the PATH)
     compiles the shipped variants for each chip of $DMA_BUNDLE_CHIPS
     (default "sm_80 sm_90a");
   - else no bundle (the package says so at `python -m dma_attention`).
$DMA_REQUIRE_BUNDLE=1 turns "no bundle" into a build error.
3. with torch importable (hence --no-build-isolation), the C++ autograd
   node dma_attention._C (dma_attention/csrc/autograd.cpp, a torch C++
   extension; no CUDA needed to build it) is compiled; without torch, or
   with DMA_TORCH_EXTENSION=0, the package uses its Python
   autograd.Function instead. In a checkout,
   `python3 setup.py build_ext --inplace` (from python/) builds it alone.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = Path(__file__).resolve().parent
ROOT = Path(os.environ.get("DMA_SOURCE_DIR", HERE.parent))


def log(message):
    print(f"dma_attention: {message}", file=sys.stderr, flush=True)


def build_runtime(build_temp, package_dir):
    source = ROOT / "runtime"
    if not (source / "CMakeLists.txt").exists():
        raise SystemExit(f"dma_attention: the runtime sources are not at "
                         f"{source} (build from the repository, or set "
                         f"DMA_SOURCE_DIR to it)")
    cmake = shutil.which("cmake")
    if not cmake:
        raise SystemExit("dma_attention: building the runtime needs CMake "
                         "(and the CUDA toolkit's headers)")
    build = Path(build_temp) / "runtime"
    configure = [cmake, "-S", str(source), "-B", str(build),
                 "-DCMAKE_BUILD_TYPE=Release"]
    if shutil.which("ninja"):
        configure += ["-G", "Ninja"]
    cuda = os.environ.get("CUDA_HOME") or "/usr/local/cuda"
    if Path(cuda).exists():
        configure.append(f"-DCUDAToolkit_ROOT={cuda}")
    log("building the runtime: " + " ".join(configure))
    subprocess.run(configure, check=True)
    subprocess.run([cmake, "--build", str(build), "--target", "dma_runtime"],
                   check=True)
    shutil.copy2(build / "libdma_runtime.so", package_dir / "libdma_runtime.so")


def chip_of(bundle):
    try:
        return json.loads((bundle / "manifest.json").read_text())["chip"]
    except (OSError, ValueError, KeyError) as e:
        raise SystemExit(f"dma_attention: {bundle} is not a kernel bundle "
                         f"(its manifest.json: {e})")


def copy_bundles(given, target):
    """Copies bundle `given` (or each bundle directly under it)."""
    given = Path(given)
    bundles = ([given] if (given / "manifest.json").exists() else
               sorted(p for p in given.iterdir()
                      if (p / "manifest.json").exists()))
    if not bundles:
        raise SystemExit(f"dma_attention: DMA_BUNDLE_DIR={given} holds no "
                         f"manifest.json (a dma-compile bundle)")
    for bundle in bundles:
        chip = chip_of(bundle)
        log(f"shipping the {chip} bundle of {bundle}")
        shutil.copytree(bundle, target / chip, dirs_exist_ok=True)
    return len(bundles)


def compiler():
    env = os.environ.get("DMA_COMPILER")
    candidates = [env] if env else []
    candidates += [str(ROOT / "build" / "bin" / "dma-compile"),
                   shutil.which("dma-compile")]
    for c in candidates:
        if c and Path(c).exists():
            return c
    return None


def compile_bundles(exe, target):
    chips = os.environ.get("DMA_BUNDLE_CHIPS", "sm_80 sm_90a").split()
    for chip in chips:
        log(f"compiling the shipped variants for {chip} with {exe}")
        subprocess.run([exe, "-o", str(target / chip), "--shipped",
                        f"--chip={chip}"], check=True)
    return len(chips)


class BuildWithRuntime(build_py):
    def run(self):
        super().run()
        package = Path(self.build_lib) / "dma_attention"
        build_runtime(self.get_finalized_command("build").build_temp, package)
        bundles = package / "bundles"
        shutil.rmtree(bundles, ignore_errors=True)
        bundles.mkdir(parents=True)
        given = os.environ.get("DMA_BUNDLE_DIR")
        exe = compiler()
        if given:
            count = copy_bundles(given, bundles)
        elif exe:
            count = compile_bundles(exe, bundles)
        else:
            count = 0
            log("no kernel bundle shipped: set DMA_BUNDLE_DIR to a bundle, "
                "or build dma-compile first (make build)")
            if os.environ.get("DMA_REQUIRE_BUNDLE") == "1":
                raise SystemExit("dma_attention: DMA_REQUIRE_BUNDLE=1 and no "
                                 "bundle to ship")
        log(f"{count} bundle(s) in {bundles}")


class PlatformDistribution(Distribution):
    """The wheel holds a shared library: platform-specific, not pure."""

    def has_ext_modules(self):
        return True


def torch_extension():
    """(ext_modules, cmdclass) of the C++ autograd node, or nothing."""
    if os.environ.get("DMA_TORCH_EXTENSION", "1") == "0":
        log("DMA_TORCH_EXTENSION=0: no C++ autograd node")
        return [], {}
    try:
        from torch.utils.cpp_extension import BuildExtension, CppExtension
    except ImportError:
        log("torch is not importable here: no C++ autograd node (install "
            "with --no-build-isolation where torch is installed)")
        return [], {}
    ext = CppExtension("dma_attention._C",
                       ["dma_attention/csrc/autograd.cpp"],
                       extra_compile_args=["-O2"])
    build = BuildExtension.with_options(use_ninja=bool(shutil.which("ninja")))
    return [ext], {"build_ext": build}


ext_modules, ext_commands = torch_extension()
setup(cmdclass={"build_py": BuildWithRuntime, **ext_commands},
      ext_modules=ext_modules, distclass=PlatformDistribution)
