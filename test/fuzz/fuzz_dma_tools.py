#!/usr/bin/env python3
"""A mutation fuzzer for dma-opt and dma-compile (Python 3 standard library).

Takes the lit inputs (test/**/*.mlir, split at `// -----`) as seeds,
mutates them (numbers and sizes to edge values, element types swapped,
`?` and static sizes exchanged, attributes added or dropped, lines deleted
or duplicated, inputs spliced, brackets nested deep, text truncated) and
runs each mutant through dma-opt with one of the project's pipelines or
passes (with random pipeline options too), and random --variant specs
through dma-compile's parser. Every run must end with exit code 0 or a
diagnostic (exit 1; dma-compile: 1 or 2): a signal, a timeout, or LLVM's
crash or fatal-error banner is a finding. Findings are written to --out
(input, command, output) and make the run fail.

Runs for a fixed time budget (--seconds, or $DMA_FUZZ_SECONDS), from a
fixed seed (--seed, or $DMA_FUZZ_SEED), so a CI run is repeatable:

    test/fuzz/fuzz_dma_tools.py --dma-opt build/bin/dma-opt \\
        --dma-compile build/bin/dma-compile --corpus test --seconds 150

Replay a saved finding with the command in its .cmd file.
"""

import argparse
import concurrent.futures
import hashlib
import os
import random
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

# Pipelines and passes every mutant may go through (dma-opt arguments).
PIPELINES = [
    [],
    ["--dma-cpu-pipeline"],
    ["--dma-cpu-pipeline=tile=false"],
    ["--dma-cpu-pipeline=q-tile=16 k-tile=16"],
    ["--dma-cpu-pipeline=lower-to-llvm=false skip=false"],
    ["--dma-cpu-pipeline=count-visits=true"],
    ["--dma-gpu-pipeline=format=none"],
    ["--dma-gpu-pipeline=format=none q-tile=64 k-tile=64"],
    ["--dma-gpu-pipeline=format=none chip=sm_80 deterministic=true"],
    ["--dma-gpu-pipeline=format=isa chip=sm_120a"],
    ["--one-shot-bufferize=bufferize-function-boundaries",
     "--dma-tile-attention", "--dma-block-skip", "--dma-gather-keys"],
    ["--dma-tile-attention=q-tile=64 k-tile=32",
     "--dma-gather-keys=per-query=false", "--dma-assign-layouts",
     "--convert-dma-tiles-to-gpu"],
    ["--convert-dma-mask-to-gpu"],
    ["--convert-dma-to-loops"],
    ["--dma-static-expand-shape"],
    ["--dma-check-gpu-chip=chip=sm_90a"],
]

# Pipeline options with values to mutate.
OPTION_PIPELINES = [
    ("--dma-cpu-pipeline", ["q-tile", "k-tile"], ["tile", "skip"]),
    ("--dma-gpu-pipeline", ["q-tile", "k-tile", "warps", "stages"],
     ["deterministic"]),
    ("--dma-tile-attention", ["q-tile", "k-tile"], ["count-visits"]),
    ("--dma-assign-layouts", ["warps", "stages", "swizzle"], []),
    ("--convert-dma-tiles-to-gpu", [], ["deterministic"]),
]

EDGE_NUMBERS = ["0", "1", "-1", "2", "3", "7", "8", "15", "16", "17", "31",
                "32", "63", "64", "65", "127", "128", "129", "255", "256",
                "257", "1024", "65536", "1048576", "2147483647",
                "2147483648", "4294967296", "9223372036854775807",
                "-9223372036854775808", "99999999999999999999", "0.0",
                "-0.0", "1.0e+38", "1.0e-45", "nan", "0x7FC00000"]
TYPES = ["f32", "f16", "bf16", "f64", "f8E4M3FN", "i1", "i8", "i32", "i64",
         "index", "complex<f32>", "vector<4xf32>", "none"]
ATTRIBUTES = [" causal", " scale(0.0)", " scale(-1.0)", " scale(1.0e+30)",
              " softcap(0.0)", " softcap(-2.0)", " softcap(30.0)",
              " keep(0)", " keep(-1)", " keep(4294967296)"]
CHIPS = ["sm_80", "sm_90a", "sm_120a", "", "sm_70", "bogus", "sm_90a,",
         "sm_100a"]

VARIANT_KEYS = {
    "kind": ["fwd", "bwd", "value_bias", "value_bias_bwd", "topk", "x", ""],
    "dtype": ["bf16", "f16", "f32", ""],
    "d": EDGE_NUMBERS[:24],
    "dv": EDGE_NUMBERS[:24],
    "mask": ["none", "keep", "mask", "keep_rows", "x"],
    "bias": ["none", "key", "full", "x"],
    "causal": ["0", "1", "2", "-1", "x"],
    "softcap": ["0", "1", "2"],
    "q_tile": EDGE_NUMBERS[:20],
    "k_tile": EDGE_NUMBERS[:20],
    "deterministic": ["0", "1", "5"],
    "form": ["log", "exp", "lin"],
    "dt_bias": ["0", "1", "9"],
    "selection": ["shared", "per_query", "all"],
    "padding": ["0", "1", "3"],
    "step": ["dt", "reduce", "rank", "x"],
}

NUMBER = re.compile(r"(?<![\w%#@^.])-?\d+(\.\d+)?(e[+-]?\d+)?")
TYPE = re.compile(r"\b(f32|f16|bf16|f64|i1|i32|i64|index)\b")
DIM = re.compile(r"(?<=[<x])(\d+|\?)(?=x)")


def load_seeds(corpus):
    seeds = []
    for path in sorted(Path(corpus).rglob("*.mlir")):
        text = path.read_text(errors="replace")
        for chunk in re.split(r"^// -----\s*$", text, flags=re.M):
            # Drop lit/FileCheck lines: they only add noise.
            lines = [l for l in chunk.splitlines()
                     if not re.match(r"\s*//\s*(RUN|CHECK|[A-Z0-9]+(-[A-Z]+)?:)",
                                     l)]
            chunk = "\n".join(lines).strip()
            if chunk and len(chunk) < 20000:
                seeds.append(chunk + "\n")
    return seeds


def replace_match(rng, text, pattern, choices):
    matches = list(pattern.finditer(text))
    if not matches:
        return text
    m = rng.choice(matches)
    return text[:m.start()] + rng.choice(choices) + text[m.end():]


def mutate_once(rng, text, seeds):
    kind = rng.randrange(12)
    lines = text.splitlines(keepends=True)
    if kind == 0:
        return replace_match(rng, text, NUMBER, EDGE_NUMBERS)
    if kind == 1:
        return replace_match(rng, text, TYPE, TYPES)
    if kind == 2:
        return replace_match(rng, text, DIM,
                             ["?", "0", "1", "2", "15", "16", "17", "64",
                              "257", "1048576", "4294967296"])
    if kind == 3 and lines:
        del lines[rng.randrange(len(lines))]
        return "".join(lines)
    if kind == 4 and lines:
        i = rng.randrange(len(lines))
        lines.insert(rng.randrange(len(lines) + 1), lines[i])
        return "".join(lines)
    if kind == 5 and len(lines) > 1:
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
        return "".join(lines)
    if kind == 6:
        # Add or drop an attribute of a dma op.
        ops = [m.end() for m in re.finditer(r"outs\([^)]*\)", text)]
        if ops and rng.random() < 0.6:
            at = rng.choice(ops)
            return text[:at] + rng.choice(ATTRIBUTES) + text[at:]
        return re.sub(rng.choice([r" causal\b", r" scale\([^)]*\)",
                                  r" softcap\([^)]*\)"]), "", text, count=1)
    if kind == 7:
        # Splice: a prefix of this input, a suffix of another.
        other = rng.choice(seeds)
        return text[:rng.randrange(len(text) + 1)] + \
            other[rng.randrange(len(other) + 1):]
    if kind == 8:
        # Brackets nested deep (around the nesting limit).
        depth = rng.choice([10, 500, 999, 1000, 1001, 3000, 20000])
        opener = rng.choice(["[", "(", "{", "<", "module {"])
        closer = {"[": "]", "(": ")", "{": "}", "<": ">",
                  "module {": "}"}[opener]
        at = rng.randrange(len(text) + 1)
        return text[:at] + opener * depth + closer * depth + text[at:]
    if kind == 9:
        return text[:rng.randrange(len(text) + 1)]  # truncation
    if kind == 10:
        # A few random bytes somewhere.
        at = rng.randrange(len(text) + 1)
        junk = "".join(rng.choice("{}()[]<>%@^:,=x?!#\"\\0123456789 \n")
                       for _ in range(rng.randrange(1, 8)))
        return text[:at] + junk + text[at:]
    # Delete a span.
    a = rng.randrange(len(text) + 1)
    return text[:a] + text[a + rng.randrange(1, 40):]


def mutate(rng, seeds):
    text = rng.choice(seeds)
    for _ in range(rng.choice([1, 1, 2, 3, 5])):
        text = mutate_once(rng, text, seeds)
    return text


def random_pipeline(rng):
    if rng.random() < 0.8:
        return list(rng.choice(PIPELINES))
    flag, ints, bools = rng.choice(OPTION_PIPELINES)
    opts = []
    for name in ints:
        if rng.random() < 0.5:
            opts.append(f"{name}={rng.choice(EDGE_NUMBERS[:24])}")
    for name in bools:
        if rng.random() < 0.3:
            opts.append(f"{name}={rng.choice(['true', 'false', '2', 'x'])}")
    if flag == "--dma-gpu-pipeline":
        opts.append("format=none")
        if rng.random() < 0.3:
            opts.append(f"chip={rng.choice(CHIPS)}")
    return [f"{flag}={' '.join(opts)}" if opts else flag]


def random_variant(rng):
    keys = rng.sample(sorted(VARIANT_KEYS), rng.randrange(0, 6))
    if rng.random() < 0.1 and keys:
        keys.append(keys[0])  # a repeated key
    items = [f"{k}={rng.choice(VARIANT_KEYS[k])}" for k in keys]
    if rng.random() < 0.2:
        items.insert(rng.randrange(len(items) + 1),
                     rng.choice(["", " ", "causal", "=1", "d==16"]))
    return ",".join(items)


CRASH_BANNERS = ("PLEASE submit a bug report", "LLVM ERROR",
                 "Assertion `", "Stack dump:", "UNREACHABLE executed")


def run_one(args, tool_args, text, allowed):
    """Runs one input; returns None, or a description of the finding."""
    try:
        proc = subprocess.run(tool_args, input=text.encode(),
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return f"no result within {args.timeout} s", ""
    err = proc.stderr.decode(errors="replace")
    if proc.returncode < 0:
        return f"killed by signal {-proc.returncode}", err
    if proc.returncode not in allowed:
        return f"exit code {proc.returncode}", err
    for banner in CRASH_BANNERS:
        if banner in err:
            return f"'{banner}' in the output", err
    return None


def save(out, tool_args, text, what, err):
    out.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1((" ".join(tool_args) + text).encode()).hexdigest()
    base = out / digest[:12]
    base.with_suffix(".mlir").write_text(text)
    base.with_suffix(".cmd").write_text(
        " ".join(f"'{a}'" for a in tool_args) + f" < {base}.mlir\n")
    base.with_suffix(".log").write_text(f"{what}\n{err[-20000:]}")
    return base


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dma-opt", required=True)
    parser.add_argument("--dma-compile")
    parser.add_argument("--corpus", required=True,
                        help="directory of .mlir seed inputs")
    parser.add_argument("--seconds", type=float,
                        default=float(os.environ.get("DMA_FUZZ_SECONDS", 150)))
    parser.add_argument("--seed", type=int,
                        default=int(os.environ.get("DMA_FUZZ_SEED", 1)))
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds one run may take")
    parser.add_argument("--jobs", type=int,
                        default=int(os.environ.get("DMA_FUZZ_JOBS", 2)))
    parser.add_argument("--out", default="fuzz-findings")
    args = parser.parse_args()

    seeds = load_seeds(args.corpus)
    if not seeds:
        sys.exit(f"fuzz: no seeds under {args.corpus}")
    out = Path(args.out)
    deadline = time.monotonic() + args.seconds
    lock = threading.Lock()
    findings, runs = [], [0]

    def worker(index):
        # One generator per worker, seeded from the run's seed: the inputs
        # a worker tries do not depend on timing.
        rng = random.Random(args.seed * 1000 + index)
        while time.monotonic() < deadline:
            if args.dma_compile and rng.random() < 0.05:
                spec = random_variant(rng)
                # No toolkit: the run stops after checking its options.
                tool_args = [args.dma_compile, "-o", str(out / "bundle"),
                             "--toolkit", "/nonexistent", "--variant", spec]
                if rng.random() < 0.2:
                    tool_args.append(f"--chip={rng.choice(CHIPS)}")
                text, allowed = "", (1, 2)
            else:
                text = mutate(rng, seeds)
                tool_args = [args.dma_opt] + random_pipeline(rng)
                allowed = (0, 1)
            finding = run_one(args, tool_args, text, allowed)
            with lock:
                runs[0] += 1
                if finding:
                    base = save(out, tool_args, text, *finding)
                    findings.append(base)
                    print(f"fuzz: FINDING ({finding[0]}): {base}.cmd",
                          flush=True)

    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        for f in [pool.submit(worker, i) for i in range(args.jobs)]:
            f.result()
    print(f"fuzz: {runs[0]} runs from {len(seeds)} seeds in "
          f"{args.seconds:.0f} s (seed {args.seed}), "
          f"{len(findings)} findings")
    sys.exit(1 if findings else 0)


if __name__ == "__main__":
    main()
