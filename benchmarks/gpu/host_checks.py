"""GPU checks of the host path (check.py runs them after the kernel matrix).

* a whole DMA layer (value_bias -> topk -> attention, forward and backward)
  under torch.compile(fullgraph=True): no graph break, no recompilation on
  a second call of the same shapes, outputs and gradients equal to eager;
* the same layer's forward + backward captured in a torch.cuda.CUDAGraph
  and replayed on new data: equal to eager on that data;
* the C++ autograd node (dma_attention._C, which run.sh builds): present,
  attached to O, and its gradients bitwise equal to the Python
  autograd.Function's (deterministic backward), with and without a bias;
* launch plans: one per signature, reused; a changed stride builds a new
  one; a misaligned tensor gets a clear error;
* edge cases: scale = 0 is a scale (uniform attention), empty batches,
  heads or queries give empty results, no keys gives O = 0 and LSE = -inf,
  and the gradients of those are zeros of the right shapes.

Each check is a generator function of the device yielding (name, ok,
details).
"""

import math

import torch

import dma_attention as dma
from dma_attention import _gpu


def _layer_inputs(device, B=2, L=300, H=4, Hkv=2, D=64, seed=0):
    g = torch.Generator(device="cpu").manual_seed(seed)
    bf = torch.bfloat16
    q = torch.randn(B, L, H, D, generator=g).to(bf).to(device)
    k = torch.randn(B, L, Hkv, D, generator=g).to(bf).to(device)
    v = torch.randn(B, L, Hkv, D, generator=g).to(bf).to(device)
    w = (torch.randn(Hkv, Hkv * D, generator=g) / (Hkv * D) ** 0.5).to(device)
    a = -torch.rand(Hkv, generator=g).to(device)
    b_dt = torch.randn(Hkv, generator=g).to(device)
    return q, k, v, w, a, b_dt


def _layer(selection, keep):
    """A DMA layer: the value bias, its top-k and attention with the bias."""
    def run(q, k, v, w, a, b_dt):
        score = dma.value_bias(v, w, a, b_dt)
        bias = score[:, :, None, :].to(q.dtype)
        if selection == "shared":
            kept = dma.topk(score, keep, "shared")
            return dma.attention(q, k, v, bias=bias, keep=kept, causal=True)
        rows = dma.topk(score, keep, "per_query")
        return dma.attention(q, k, v, bias=bias, keep_rows=rows, causal=True)
    return run


def _step(fn, inputs, do):
    """Outputs and gradients of one forward + backward of fn."""
    leaves = [x.detach().clone().requires_grad_() for x in inputs]
    o = fn(*leaves)
    o.backward(do)
    return [o.detach()] + [x.grad for x in leaves]


def _max_rel(xs, ys):
    worst = 0.0
    for a, b in zip(xs, ys):
        if a is None or b is None:
            return math.inf
        if not torch.isfinite(a.float()).all():
            return math.inf
        n = b.float().norm().item()
        d = (a.float() - b.float()).norm().item()
        worst = max(worst, d / n if n > 0 else d)
    return worst


def check_layer_compile(device):
    if not hasattr(torch, "compile"):
        yield "compile: whole layer", True, {"skipped_reason": "no torch.compile"}
        return
    from torch import _dynamo
    for selection in ("shared", "per_query"):
        inputs = _layer_inputs(device, seed=1)
        fn = _layer(selection, 96)
        g = torch.Generator(device="cpu").manual_seed(2)
        do = torch.randn(inputs[0].shape, generator=g).to(
            inputs[0].dtype).to(device)
        eager = _step(fn, inputs, do)
        _dynamo.reset()
        _dynamo.utils.counters.clear()
        compiled = torch.compile(fn, fullgraph=True, dynamic=False)
        first = _step(compiled, inputs, do)
        # A second call on new data of the same shapes: no recompilation.
        again_inputs = _layer_inputs(device, seed=3)
        again = _step(compiled, again_inputs, do)
        eager_again = _step(fn, again_inputs, do)
        frames = dict(_dynamo.utils.counters["frames"])
        recompiles = _dynamo.utils.counters["recompiles"]
        breaks = sum(_dynamo.utils.counters["graph_break"].values())
        diff = max(_max_rel(first, eager), _max_rel(again, eager_again))
        ok = diff < 1e-2 and breaks == 0 and not recompiles
        yield (f"compile: layer {selection} fwd+bwd fullgraph", ok,
               {"max_rel_diff": diff, "graph_breaks": breaks,
                "recompiles": sum(recompiles.values()) if recompiles else 0,
                "frames": frames.get("total", 0)})


def check_cuda_graph(device):
    for selection in ("shared", "per_query"):
        inputs = _layer_inputs(device, seed=4)
        fn = _layer(selection, 96)
        static = [x.detach().clone().requires_grad_() for x in inputs]
        g = torch.Generator(device="cpu").manual_seed(5)
        do = torch.randn(inputs[0].shape, generator=g).to(
            inputs[0].dtype).to(device)
        # Warm up on a side stream (builds the plans, loads the kernels).
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(2):
                for x in static:
                    x.grad = None
                fn(*static).backward(do)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        for x in static:
            x.grad = None
        with torch.cuda.graph(graph):
            out = fn(*static)
            out.backward(do)
        # Replay on new data copied into the captured tensors.
        fresh = _layer_inputs(device, seed=6)
        with torch.no_grad():
            for s, f in zip(static, fresh):
                s.copy_(f)
        graph.replay()
        torch.cuda.synchronize()
        replayed = [out.detach()] + [x.grad for x in static]
        eager = _step(fn, fresh, do)
        diff = _max_rel(replayed, eager)
        yield (f"cuda graph: layer {selection} fwd+bwd replay", diff < 1e-2,
               {"max_rel_diff": diff})


def check_autograd_node(device):
    from dma_attention import _autograd, _native
    yield ("autograd node: dma_attention._C is built", _native.available,
           {"reason": _native.reason})
    if not _native.available:
        return
    # D = 128: the head dim whose deterministic backwards the bundle ships.
    q, k, v, w, a, b_dt = _layer_inputs(device, B=2, L=200, D=128, seed=9)
    score = dma.value_bias(v, w, a, b_dt).detach()
    bias = score[:, :, None, :].to(q.dtype)
    keep = dma.topk(score, 64, "shared")
    g = torch.Generator(device="cpu").manual_seed(10)
    do = torch.randn(q.shape, generator=g).to(q.dtype).to(device)
    for with_bias in (True, False):  # causal shared top-k, key bias or none
        inputs = [q, k, v] + ([bias] if with_bias else [])
        grads = {}
        for path in ("native", "python"):
            leaves = [x.detach().clone().requires_grad_() for x in inputs]
            b = leaves[3] if with_bias else None
            if path == "native":
                o = dma.attention(*leaves[:3], bias=b, keep=keep, causal=True,
                                  deterministic=True)
                name = o.grad_fn.name()
            else:
                o, _ = _autograd.attention(*leaves[:3], b, None, keep, None,
                                           True, None, 0.0, None, 0, 0, True)
            o.backward(do)
            grads[path] = [o.detach()] + [x.grad for x in leaves]
        same = all(torch.equal(x, y)
                   for x, y in zip(grads["native"], grads["python"]))
        yield (f"autograd node: {'bias' if with_bias else 'no bias'}, "
               f"gradients equal the autograd.Function's",
               same and name == "DmaAttentionBackward", {"grad_fn": name})


def check_plans(device):
    q, k, v, _, _, _ = _layer_inputs(device, seed=7)
    _gpu.clear_plans()
    dma.attention(q, k, v, causal=True)
    n = len(_gpu._calls)
    for _ in range(3):
        dma.attention(q, k, v, causal=True)
    reused = len(_gpu._calls) == n
    # Another layout of q (a transposed copy viewed back): another plan.
    q2 = q.transpose(1, 2).contiguous().transpose(1, 2)
    o2 = dma.attention(q2, k, v, causal=True)
    o1 = dma.attention(q, k, v, causal=True)
    new_plan = len(_gpu._calls) == n + 1
    same = torch.equal(o1, o2)
    yield "plans: one per signature, reused", reused and new_plan and same, {
        "plans": len(_gpu._calls), "reused": reused, "new_plan": new_plan,
        "strided_equal": same}
    # A view starting 2 bytes into its storage cannot feed cp.async.
    flat = torch.empty(q.numel() + 8, dtype=q.dtype, device=device)
    odd = flat[1:1 + q.numel()].view(q.shape)
    odd.copy_(q)
    try:
        dma.attention(odd, k, v, causal=True)
        yield "plans: misaligned data is refused", False, {"error": "none"}
    except ValueError as e:
        ok = "16-byte aligned" in str(e) or "aligned" in str(e)
        yield "plans: misaligned data is refused", ok, {"error": str(e)}


def check_edge_cases(device):
    q, k, v, _, _, _ = _layer_inputs(device, B=1, L=70, seed=8)
    # scale = 0: every visible key weighs the same (mean of the values).
    o = dma.attention(q, k, v, scale=0.0)
    want = v.float().mean(1, keepdim=True).repeat_interleave(2, 2).expand_as(o)
    err = ((o.float() - want).norm() / want.norm()).item()
    yield "edge: scale=0 is uniform attention", err < 1e-2, {"rel_err": err}
    o_default = dma.attention(q, k, v)
    o_explicit = dma.attention(q, k, v, scale=1 / math.sqrt(q.shape[-1]))
    same = torch.equal(o_default, o_explicit)
    yield "edge: scale=None is 1/sqrt(D)", same, {}
    # Empty batch, heads, queries: empty results (and gradients).
    for name, (B, Lq, Lk, H, Hkv) in {"B=0": (0, 5, 7, 4, 2),
                                      "Lq=0": (1, 0, 7, 4, 2),
                                      "H=0": (1, 5, 7, 0, 0),
                                      "Lk=0": (1, 5, 0, 4, 2)}.items():
        try:
            qq = torch.randn(B, Lq, H, 64, device=device,
                             dtype=torch.bfloat16).requires_grad_()
            kk = torch.randn(B, Lk, Hkv, 64, device=device,
                             dtype=torch.bfloat16).requires_grad_()
            vv = torch.randn(B, Lk, Hkv, 64, device=device,
                             dtype=torch.bfloat16).requires_grad_()
            o, lse = dma.attention(qq, kk, vv, causal=True, return_lse=True)
            o.float().sum().backward()
            torch.cuda.synchronize()
            ok = o.shape == (B, Lq, H, 64) and lse.shape == (B, H, Lq)
            if Lk == 0:  # no keys: every row is empty
                ok = (ok and bool((o == 0).all())
                      and bool(torch.isneginf(lse).all()))
            # No query sees a key in any of these: zero gradients.
            ok = ok and all(x.grad is not None and x.grad.shape == x.shape
                            and bool((x.grad == 0).all())
                            for x in (qq, kk, vv))
            yield f"edge: empty input {name}", ok, {}
        except Exception as e:
            yield f"edge: empty input {name}", False, {
                "error": f"{type(e).__name__}: {e}"}
    # A head dim the kernels do not take: a clear error.
    try:
        dma.attention(q[..., :0], k[..., :0], v[..., :0])
        yield "edge: D=0 is refused", False, {"error": "none"}
    except (ValueError, LookupError) as e:
        yield "edge: D=0 is refused", "head dim" in str(e), {"error": str(e)}


def check_hidden_nan(device):
    """A hidden key's NaN value row (an uninitialised KV-cache row, say)
    reaches no output or gradient: each result equals the same call with
    those rows zeroed, bit for bit. Keys hidden by a mask broadcast over
    queries, never kept by the per-query top-k, left out of a shared top-k
    list, and (backward) beyond a row's causal bound."""
    g = torch.Generator(device="cpu").manual_seed(11)
    bf = torch.bfloat16
    B, L, H, Hkv, D = 2, 300, 4, 2, 64
    q, k, v = (torch.randn(B, L, h, D, generator=g).to(bf).to(device)
               for h in (H, Hkv, Hkv))
    hidden = torch.zeros(L, dtype=torch.bool)
    hidden[250:] = True          # the cache's unwritten tail
    hidden[7::31] = True         # and some rows in between
    dev_hidden = hidden.to(device)
    poisoned = v.clone()
    poisoned[:, dev_hidden] = float("nan")
    clean = v.clone()
    clean[:, dev_hidden] = 0
    score = torch.randn(B, Hkv, L, generator=g).to(device)
    score[:, :, dev_hidden] = float("nan")   # never kept by top-k
    forms = {
        "mask broadcast over queries": dict(
            mask=(~dev_hidden)[None, None, None, :].expand(B, 1, 1, L)),
        "per-query top-k": dict(keep_rows=dma.topk(score, 64, "per_query")),
        "shared top-k": dict(keep=dma.topk(score, 64, "shared")),
    }
    do = torch.randn(B, L, H, D, generator=g).to(bf).to(device)
    for name, kw in forms.items():
        for causal in (False, True):
            outs = []
            for values in (poisoned, clean):
                leaves = [x.detach().clone().requires_grad_()
                          for x in (q, k, values)]
                o = dma.attention(*leaves, causal=causal, **kw)
                o.backward(do)
                outs.append([o.detach(), leaves[0].grad, leaves[1].grad,
                             leaves[2].grad.masked_fill(
                                 dev_hidden[None, :, None, None], 0)])
            same = all(torch.equal(a, b) for a, b in zip(*outs))
            finite = all(bool(torch.isfinite(x).all()) for x in outs[0])
            yield (f"hidden NaN values: {name}{', causal' if causal else ''}",
                   same and finite, {"finite": finite, "equal": same})


def check_keep_order(device):
    """A keep list that repeats or does not ascend stops the kernel with a
    device-side assert saying so (a fresh process: the assert ends the CUDA
    context, as PyTorch's own index checks do)."""
    import os
    import subprocess
    import sys
    script = (
        "import torch, dma_attention as dma\n"
        "q = torch.randn(1, 64, 2, 64, device='cuda', dtype=torch.bfloat16)\n"
        "k = torch.randn(1, 64, 2, 64, device='cuda', dtype=torch.bfloat16)\n"
        "keep = torch.tensor([[[1, 5, 5, 9], [2, 3, 4, 6]]], device='cuda',"
        " dtype=torch.int32)\n"
        "dma.attention(q, k, k, keep=keep)\n"
        "torch.cuda.synchronize()\n")
    for name, keep in (("a repeated position", "[[[1, 5, 5, 9], [2, 3, 4, 6]]]"),
                       ("a descending pair", "[[[1, 9, 5, -1], [2, 3, 4, 6]]]"),
                       ("a position after padding", "[[[1, -1, 5, -1], [2, 3, 4, 6]]]")):
        r = subprocess.run([sys.executable, "-c", script.replace(
            "[[[1, 5, 5, 9], [2, 3, 4, 6]]]", keep)], capture_output=True,
            text=True, env=dict(os.environ), timeout=300)
        said = "keep lists must hold ascending" in (r.stdout + r.stderr)
        yield (f"keep list with {name} is refused", r.returncode != 0 and said,
               {"returncode": r.returncode})


def host_checks(quick=False):
    """The checks, each a generator function of the device; `quick` leaves
    out CUDA graphs, torch.compile and the deliberate device asserts (for
    runs under compute-sanitizer, which follows the child processes and
    would count their asserts as errors)."""
    checks = [check_autograd_node, check_plans, check_edge_cases,
              check_hidden_nan]
    if not quick:
        checks += [check_keep_order, check_cuda_graph, check_layer_compile]
    return checks
