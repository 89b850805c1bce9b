"""Host-path benchmark rows (bench.py runs them first; `--host-only`).

* per call at tiny shapes (B1 L128 H2 D64, shared keep 64): wall time per
  call over a loop of calls (host cost, since the kernels are tiny) of the
  forward, forward + backward, topk and value_bias, against SDPA (PyTorch's
  default backend choice) and torch.topk / PyTorch ops in the same process;
* medium shapes: B8 H16/4 D64 L1024 keep 256 (a quarter of the keys) and
  B4 H32/8 D128 L2048 dense, forward and forward + backward (also replayed
  from CUDA graphs: GPU time without host cost), against SDPA
  dense causal with the FlashAttention-2 and the cuDNN backends;
* mask generation's share of the attention forward: a layer's forward
  (value_bias + topk + attention) against the attention alone, shared and
  per-query, at L = 4096 and 16384 (B1 H32/8 D128 w 1024).
"""

import time

import torch
import torch.nn.functional as F

import dma_attention as dma
from dma_attention import _reference


def per_call_us(fn, calls=300, repeats=7):
    """The least over `repeats` of the wall time per call of `calls` calls
    (host-bound timings: the least is the one other processes disturbed
    least; the GPU machine's host moves medians by 1.5x between runs)."""
    for _ in range(30):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) / calls * 1e6)
    return min(times)


def _inputs(B, L, H, Hkv, D, keep, seed=0):
    g = torch.Generator(device="cuda").manual_seed(seed)
    bf = torch.bfloat16
    q = torch.randn(B, L, H, D, device="cuda", generator=g, dtype=bf)
    k = torch.randn(B, L, Hkv, D, device="cuda", generator=g, dtype=bf)
    v = torch.randn(B, L, Hkv, D, device="cuda", generator=g, dtype=bf)
    bias = torch.randn(B, Hkv, 1, L, device="cuda", generator=g, dtype=bf)
    kept = None
    if keep:
        kept = bias[:, :, 0].float().topk(keep, dim=-1).indices.sort(-1).values
        kept = kept.to(torch.int32).contiguous()
    return q, k, v, bias, kept


def _sdpa(backend, H, Hkv):
    from torch.nn.attention import SDPBackend, sdpa_kernel
    chosen = {"fa2": [SDPBackend.FLASH_ATTENTION],
              "cudnn": [SDPBackend.CUDNN_ATTENTION], "default": None}[backend]

    def run(q, k, v):
        qt, kt, vt = (x.transpose(1, 2) for x in (q, k, v))
        if H != Hkv:
            kt = kt.repeat_interleave(H // Hkv, dim=1)
            vt = vt.repeat_interleave(H // Hkv, dim=1)
        if chosen is None:
            return F.scaled_dot_product_attention(qt, kt, vt, is_causal=True)
        with sdpa_kernel(chosen):
            return F.scaled_dot_product_attention(qt, kt, vt, is_causal=True)
    return run


def fwd_bwd(fn, inputs):
    """forward + backward of fn(*inputs) for a fixed random dO."""
    leaves = [x.detach().requires_grad_() for x in inputs]
    out = fn(*leaves)
    do = torch.randn_like(out)

    def run():
        o = fn(*leaves)
        return torch.autograd.grad(o, leaves, do)
    return run


def graph_replay(run):
    """run() captured in a CUDA graph (after warm-up on a side stream), as
    a function replaying it: the GPU time without any host cost, so a peer
    whose eager call is host-bound is measured at its best."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            run()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        run()
    return graph.replay


def host_rows(record, timed):
    """Records the host-path rows through `record(case, system, ms, L)`;
    `timed(fn)` is bench.py's median kernel time in ms."""
    # Per call at tiny shapes.
    B, L, H, Hkv, D, W = 1, 128, 2, 2, 64, 64
    q, k, v, bias, keep = _inputs(B, L, H, Hkv, D, W)
    case = f"per call B{B} L{L} H{H} D{D} keep {W}: forward"
    ours = lambda: dma.attention(q, k, v, bias=bias, keep=keep, causal=True)
    with torch.no_grad():
        record(case, "dma", per_call_us(ours) / 1e3, L)
        sdpa = _sdpa("default", H, Hkv)
        record(case, "SDPA (default backend)",
               per_call_us(lambda: sdpa(q, k, v)) / 1e3, L)
    case = f"per call B{B} L{L} H{H} D{D} keep {W}: forward + backward"
    record(case, "dma (q, k, v, bias grads)", per_call_us(fwd_bwd(
        lambda q, k, v, b: dma.attention(q, k, v, bias=b, keep=keep,
                                         causal=True), (q, k, v, bias))) / 1e3,
        L)
    record(case, "SDPA (default backend)",
           per_call_us(fwd_bwd(_sdpa("default", H, Hkv), (q, k, v))) / 1e3, L)
    score = bias[:, :, 0].float().contiguous()
    case = f"per call B{B} L{L} Hkv{Hkv}: topk shared {W}"
    record(case, "dma", per_call_us(lambda: dma.topk(score, W)) / 1e3, L)
    record(case, "torch.topk + sort", per_call_us(
        lambda: score.topk(W, dim=-1).indices.sort(-1).values) / 1e3, L)
    case = f"per call B{B} L{L} Hkv{Hkv}: topk per_query {W}"
    record(case, "dma", per_call_us(
        lambda: dma.topk(score, W, "per_query")) / 1e3, L)
    g = torch.Generator(device="cuda").manual_seed(1)
    w = torch.randn(Hkv, Hkv * D, device="cuda", generator=g) / (Hkv * D) ** .5
    a = -torch.rand(Hkv, device="cuda", generator=g)
    b_dt = torch.randn(Hkv, device="cuda", generator=g)
    case = f"per call B{B} L{L} Hkv{Hkv} D{D}: value_bias"
    with torch.no_grad():
        record(case, "dma", per_call_us(
            lambda: dma.value_bias(v, w, a, b_dt)) / 1e3, L)
        record(case, "PyTorch ops", per_call_us(
            lambda: _reference.value_bias(v, w, a, b_dt)) / 1e3, L)

    # Medium shapes: the kernels' time with the host cost included.
    for (B, L, H, Hkv, D, W) in ((8, 1024, 16, 4, 64, 256),
                                 (4, 2048, 32, 8, 128, 0)):
        q, k, v, bias, keep = _inputs(B, L, H, Hkv, D, W)
        form = f"keep {W}" if W else "dense"
        case = f"B{B} H{H}/{Hkv} D{D} L{L} {form}: forward"
        if W:
            ours = lambda: dma.attention(q, k, v, bias=bias, keep=keep,
                                         causal=True)
        else:
            ours = lambda: dma.attention(q, k, v, causal=True)
        with torch.no_grad():
            record(case, "dma", timed(ours), L)
            for name in ("fa2", "cudnn"):
                run = _sdpa(name, H, Hkv)
                record(case, f"SDPA {name} dense causal",
                       timed(lambda: run(q, k, v)), L)
        case = f"B{B} H{H}/{Hkv} D{D} L{L} {form}: forward + backward"
        if W:
            record(case, "dma (with bias grad)", timed(fwd_bwd(
                lambda q, k, v, b: dma.attention(q, k, v, bias=b, keep=keep,
                                                 causal=True),
                (q, k, v, bias))), L)
        else:
            record(case, "dma", timed(fwd_bwd(
                lambda q, k, v: dma.attention(q, k, v, causal=True),
                (q, k, v))), L)
        peers = {f"SDPA {name} dense causal": fwd_bwd(_sdpa(name, H, Hkv),
                                                     (q, k, v))
                 for name in ("fa2", "cudnn")}
        for name, run in peers.items():
            record(case, name, timed(run), L)
        # The same steps replayed from CUDA graphs: the GPU time alone (the
        # SDPA steps' eager host cost, GQA's repeat_interleave and its
        # backward included, can exceed their kernels' time on this host).
        case += " (CUDA graph replay)"
        if W:
            ours = fwd_bwd(lambda q, k, v, b: dma.attention(
                q, k, v, bias=b, keep=keep, causal=True), (q, k, v, bias))
        else:
            ours = fwd_bwd(lambda q, k, v: dma.attention(q, k, v, causal=True),
                           (q, k, v))
        record(case, "dma", timed(graph_replay(ours)), L)
        for name, run in peers.items():
            record(case, name, timed(graph_replay(run)), L)
        del q, k, v, bias, keep, peers
        torch.cuda.empty_cache()

    # Mask generation against the attention forward it feeds.
    B, H, Hkv, D, W = 1, 32, 8, 128, 1024
    for L in (4096, 16384):
        q, k, v, _, _ = _inputs(B, L, H, Hkv, D, 0, seed=2)
        g = torch.Generator(device="cuda").manual_seed(3)
        w = torch.randn(Hkv, Hkv * D, device="cuda", generator=g) / (
            Hkv * D) ** 0.5
        a = -torch.rand(Hkv, device="cuda", generator=g)
        b_dt = torch.randn(Hkv, device="cuda", generator=g)
        with torch.no_grad():
            score = dma.value_bias(v, w, a, b_dt)
            bias = score[:, :, None].to(q.dtype)
            for selection in ("shared", "per_query"):
                if selection == "per_query" and L > 8192:
                    continue  # the per-query attention is O(L^2) today
                mask = dma.topk(score, W, selection)
                kw = ({"keep": mask} if selection == "shared" else
                      {"keep_rows": mask})
                case = f"mask generation share L={L} w={W} {selection}"
                attn = timed(lambda: dma.attention(q, k, v, bias=bias,
                                                   causal=True, **kw))

                def layer():
                    s = dma.value_bias(v, w, a, b_dt)
                    m = dma.topk(s, W, selection)
                    kk = ({"keep": m} if selection == "shared" else
                          {"keep_rows": m})
                    return dma.attention(q, k, v,
                                         bias=s[:, :, None].to(q.dtype),
                                         causal=True, **kk)
                # The summary's ratio (alone / layer) is 1 / (1 + share).
                record(case, "dma layer: value_bias + topk + attention",
                       timed(layer), L)
                record(case, "attention alone (the same kernel)", attn, L)
        del q, k, v
        torch.cuda.empty_cache()
