"""dma_attention.integrations.doge on the CPU pipeline, without transformers.

`attention_forward` replaces transformers' DogeAttention.forward. Here it
runs on a stand-in module with the attributes HF's DogeAttention has, and
is compared with `hf_eager`, a transcription of HF's eager Doge attention
(DogeAttention.forward + prepare_dynamic_mask + eager_attention_forward:
dense [B, H, L, L] masks, torch.topk over each query's row). The GPU check
(benchmarks/gpu/check_doge.py) compares against transformers' own model.
"""


import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from dma_attention.integrations import doge


class RMSNorm(nn.Module):
    def __init__(self, n, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n) + 0.1 * torch.randn(n))
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


class StandInDogeAttention(nn.Module):
    """The parameters and attributes of transformers' DogeAttention."""

    def __init__(self, hidden=32, H=4, Hkv=2, D=8, window=5, layer_idx=0):
        super().__init__()
        self.head_dim, self.layer_idx = D, layer_idx
        self.num_key_value_groups = H // Hkv
        self.scaling = D ** -0.5
        self.attention_dropout = 0.0
        self.keep_window_size = window
        self.q_proj = nn.Linear(hidden, H * D, bias=False)
        self.k_proj = nn.Linear(hidden, Hkv * D, bias=False)
        self.v_proj = nn.Linear(hidden, Hkv * D, bias=False)
        self.A = nn.Parameter(torch.randn(Hkv))     # HF starts at 0 (all ties)
        self.dt_proj = nn.Linear(Hkv * D, Hkv, bias=True)
        self.o_proj = nn.Linear(H * D, hidden, bias=False)
        self.q_norm, self.k_norm = RMSNorm(D), RMSNorm(D)

    forward = doge.attention_forward


def rotary(L, D, offset=0, B=1):
    inv = 1.0 / (10000 ** (torch.arange(0, D, 2).float() / D))
    t = torch.arange(offset, offset + L).float()
    emb = torch.cat([torch.outer(t, inv)] * 2, dim=-1)
    return emb.cos().expand(B, L, D), emb.sin().expand(B, L, D)


def hf_eager(m, x, cos, sin, attention_mask=None):
    """HF's eager Doge attention, dense (see the module docstring)."""
    B, L, _ = x.shape
    shape = (B, L, -1, m.head_dim)
    q = m.q_norm(m.q_proj(x).view(shape)).transpose(1, 2)
    k = m.k_norm(m.k_proj(x).view(shape)).transpose(1, 2)
    v = m.v_proj(x).view(shape).transpose(1, 2)
    rot = lambda t: t * cos[:, None] + torch.cat(
        (-t[..., t.shape[-1] // 2:], t[..., :t.shape[-1] // 2]), -1) * sin[:, None]
    q, k = rot(q), rot(k)
    dt = m.dt_proj(v.transpose(1, 2).reshape(B, L, -1))
    dt = torch.exp(m.A * F.softplus(dt)).transpose(-1, -2)        # [B, Hkv, L]
    min_dtype = torch.finfo(x.dtype).min
    visible = torch.ones(L, L, dtype=torch.bool).tril()[None, None]
    if attention_mask is not None:
        visible = visible & attention_mask.bool()[:, None, None, :]
    causal = torch.where(visible, 0.0, min_dtype)                  # additive
    mask = dt[:, :, None, :].expand(-1, -1, L, -1)
    mask = mask.masked_fill(causal != 0, min_dtype)
    if mask.shape[-1] > m.keep_window_size:
        idx = torch.topk(mask, m.keep_window_size, dim=-1, sorted=False).indices
        active = torch.zeros_like(mask).scatter(-1, idx, 1.0)
        mask = mask.masked_fill(active == 0.0, min_dtype)
    g = m.num_key_value_groups
    mask, k, v = (t.repeat_interleave(g, 1) for t in (mask, k, v))
    w = torch.matmul(q, k.transpose(2, 3)) * m.scaling + mask
    w = F.softmax(w, dim=-1, dtype=torch.float32).to(q.dtype)
    o = torch.matmul(w, v).transpose(1, 2).reshape(B, L, -1)
    return m.o_proj(o)


def make_layer(L=12, window=5, B=2, seed=0):
    torch.manual_seed(seed)
    m = StandInDogeAttention(window=window)
    x = torch.randn(B, L, 32)
    return m, x, rotary(L, m.head_dim, B=B)


@pytest.mark.parametrize("L,window", [(12, 5), (12, 12), (12, 64), (9, 1)])
def test_forward_and_gradients_match_hf_eager(L, window):
    m, x, (cos, sin) = make_layer(L, window)
    x.requires_grad_()
    ours, _ = m(x, (cos, sin))
    ref = hf_eager(m, x, cos, sin)
    assert torch.allclose(ours, ref, atol=1e-5, rtol=1e-4), \
        (ours - ref).abs().max()
    w = torch.randn_like(ref)
    grads = lambda out: torch.autograd.grad((out * w).sum(),
                                            [x, *m.parameters()])
    for name, a, b in zip(["x"] + [n for n, _ in m.named_parameters()],
                          grads(m(x, (cos, sin))[0]), grads(ref)):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-3), \
            (name, (a - b).abs().max())


def test_left_padding_matches_hf_eager_on_real_tokens():
    m, x, (cos, sin) = make_layer(L=12, window=4)
    attention_mask = torch.ones(2, 12, dtype=torch.long)
    attention_mask[1, :5] = 0                  # sequence 1: 5 pads, 7 tokens
    ours, _ = m(x, (cos, sin), attention_mask=doge.padding_of(attention_mask))
    ref = hf_eager(m, x, cos, sin, attention_mask)
    real = attention_mask.bool()
    assert torch.allclose(ours[real], ref[real], atol=1e-5, rtol=1e-4)
    # The same through a raw 2D mask (what a layer gets outside DogeModel).
    again, _ = m(x, (cos, sin), attention_mask=attention_mask)
    assert torch.equal(again, ours)


class ConcatCache:
    """HF DynamicCache's contract: update() appends [B, Hkv, L, D] rows and
    returns every cached row."""

    def __init__(self):
        self.k = self.v = None

    def update(self, k, v, layer_idx):
        self.k = k if self.k is None else torch.cat([self.k, k], 2)
        self.v = v if self.v is None else torch.cat([self.v, v], 2)
        return self.k, self.v

    def reorder_cache(self, beam_idx):            # beam search's reorder
        self.k, self.v = self.k[beam_idx], self.v[beam_idx]


@pytest.mark.parametrize("window", [3, 40])
def test_teacher_forced_decoding_equals_the_full_forward(window):
    """Prefill 6 tokens, then one token per step: each step's output is
    the full forward's at that position (causal and top-k over the cache)."""
    m, x, (cos, sin) = make_layer(L=11, window=window, B=1)
    with torch.no_grad():
        full, _ = m(x, (cos, sin))
        cache = ConcatCache()
        steps = [m(x[:, :6], (cos[:, :6], sin[:, :6]),
                   past_key_values=cache)[0]]
        for i in range(6, 11):
            steps.append(m(x[:, i:i + 1], (cos[:, i:i + 1], sin[:, i:i + 1]),
                           past_key_values=cache)[0])
    assert torch.allclose(torch.cat(steps, 1), full, atol=1e-5, rtol=1e-4)


def test_cached_scores_follow_a_reordered_cache():
    """Decoding keeps each cached key's score beside the cache (only the
    new keys' are computed); a reorder_cache (beam search) makes it
    recompute them, so the swapped batch decodes as its full forward."""
    m, x, (cos, sin) = make_layer(L=10, window=3, B=2)
    with torch.no_grad():
        cache = ConcatCache()
        m(x[:, :6], (cos[:, :6], sin[:, :6]), past_key_values=cache)
        assert cache._dma_scores[0].shape == (2, 2, 6)
        swap = torch.tensor([1, 0])
        cache.reorder_cache(swap)
        assert not cache._dma_scores             # forgotten
        xs = x[swap]
        steps = [m(xs[:, i:i + 1], (cos[:, i:i + 1], sin[:, i:i + 1]),
                   past_key_values=cache)[0] for i in range(6, 10)]
        assert cache._dma_scores[0].shape == (2, 2, 10)
        full, _ = m(xs, (cos, sin))
    assert torch.allclose(torch.cat(steps, 1), full[:, 6:], atol=1e-5,
                          rtol=1e-4)


def test_bad_input_says_what_is_wrong():
    m, x, rot = make_layer()
    with pytest.raises(ValueError, match="2D attention_mask"):
        m(x, rot, attention_mask=torch.zeros(2, 1, 12, 12))
    with pytest.raises(ValueError, match="covers 8 positions"):
        m(x, rot, attention_mask=doge.padding_of(
            torch.tensor([[1] * 8, [0] + [1] * 7])))
    cache = ConcatCache()
    cache.update(torch.zeros(2, 2, 3, 8, dtype=torch.float64),
                 torch.zeros(2, 2, 3, 8, dtype=torch.float64), 0)
    with pytest.raises(ValueError, match="cache holds keys as torch.float64"):
        m(x, rot, past_key_values=cache)
    m.keep_window_size = 0
    with pytest.raises(ValueError, match="keep_window_size"):
        m(x, rot)
    m.keep_window_size, m.attention_dropout = 4, 0.1
    m.train()
    with pytest.raises(ValueError, match="attention_dropout"):
        m(x, rot)
    m.eval()
    m(x, rot)                                   # no dropout in eval mode


def test_enable_names_what_it_needs():
    try:
        import transformers.models.doge  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="needs transformers"):
            doge.enable(nn.Linear(2, 2))
    else:
        with pytest.raises(TypeError, match="not a Doge model"):
            doge.enable(nn.Linear(2, 2))
