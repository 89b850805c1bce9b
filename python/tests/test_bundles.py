"""Kernel variants compiled on demand into the disk cache (no GPU needed:
this is the compiler half of the GPU path; the launch is checked on the GPU
machine by benchmarks/gpu/check.py)."""

import json
import subprocess

import pytest

from dma_attention import _bundles

V1 = ("dtype=bf16,d=64,dv=64,mask=keep,bias=key,causal=1,softcap=0,"
      "q_tile=128,k_tile=32")
V2 = ("dtype=f16,d=64,dv=64,mask=none,bias=none,causal=0,softcap=0,"
      "q_tile=64,k_tile=64")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    if _bundles.compiler() is None:
        pytest.fail("dma-compile not found: build the project (make build) "
                    "or set DMA_COMPILER")
    monkeypatch.setenv("DMA_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("DMA_KERNEL_DIR", raising=False)
    return tmp_path


def test_compiles_missing_variants_into_one_cache(cache, monkeypatch):
    first = _bundles.find(V1, "sm_90a")
    second = _bundles.find(V2, "sm_90a")
    assert first == second and first.startswith(str(cache / "sm_90a"))
    manifest = json.loads((cache / "sm_90a").glob("*/manifest.json")
                          .__next__().read_text())
    names = {v["name"] for v in manifest["variants"]}
    assert names == {V1, V2}
    for v in manifest["variants"]:
        assert (cache / first / v["cubin"]).read_bytes()[:4] == b"\x7fELF"

    # The cache key is stable (a new process finds the same directory), and
    # a cached variant loads without compiling again.
    version = _bundles._compiler_version(_bundles.compiler())
    assert version == _bundles._compiler_version(_bundles.compiler())
    assert first.endswith(version)

    def no_compiling(*args, **kwargs):
        raise AssertionError("compiled a cached variant")
    monkeypatch.setattr(_bundles, "_compiler_version", lambda exe: version)
    monkeypatch.setattr(_bundles.subprocess, "run", no_compiling)
    assert _bundles.find(V1, "sm_90a") == first


def test_cache_is_keyed_by_chip(cache):
    a = _bundles.find(V2, "sm_90a")
    b = _bundles.find(V2, "sm_80")
    assert a != b and "sm_80" in b


def test_bundle_argument_wins(cache, tmp_path):
    bundle = tmp_path / "mine"
    bundle.mkdir()
    (bundle / "manifest.json").write_text(json.dumps(
        {"format": 1, "variants": [{"name": V2}]}))
    assert _bundles.find(V2, "sm_90a", bundle=str(bundle)) == str(bundle)


def test_bad_variant_reports_the_compiler_error(cache):
    with pytest.raises(RuntimeError, match="compiling variant .* failed"):
        _bundles.find("dtype=f32,d=64", "sm_90a")


def test_no_compiler_and_no_bundle(cache, monkeypatch):
    monkeypatch.setattr(_bundles, "compiler", lambda: None)
    with pytest.raises(LookupError, match="dma-compile\\) is not installed"):
        _bundles.find(V1, "sm_90a")
