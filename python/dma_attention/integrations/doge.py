"""transformers' Doge models (the DMA authors' own) on dma's ops.

    from transformers import DogeForCausalLM
    from dma_attention.integrations import doge
    model = doge.enable(DogeForCausalLM.from_pretrained(path))  # in place

HF's eager `DogeAttention` builds its dynamic mask as dense [B, H, Lq, Lk]
tensors: the per-key score exp(A * softplus(dt_proj(v))) broadcast over the
queries, the causal and padding mask merged in, and (when Lk exceeds
`keep_window_size`) a top-k over each query's row. After `enable`, every
Doge attention layer computes the same function without an Lq x Lk tensor:

    score = value_bias(v, dt_proj.weight, A, dt_proj.bias, form="exp")
    rows  = topk(score, keep_window_size, "per_query", padding)   # Lk > w
    o     = attention(q, k, v, bias=score[:, :, None], keep_rows=rows,
                      causal=True, scale=head_dim ** -0.5)

(with Lk <= w every visible key is kept: `mask=padding` instead of rows;
a single query, a decode step, takes the shared top-k: `keep=` positions,
so the kernel walks only the w kept keys of the cache).
Gradients reach every parameter (q/k/v/o projections, norms, dt_proj, A).
The model's dense causal mask is never built either: for converted models
DogeModel's `create_causal_mask` returns a `Padding` record of the 2D
attention_mask instead, which is all these layers need.

Where it differs from HF eager, by design: ties among scores go to the
lower key index (torch.topk's choice is unspecified); the score is computed
in float32. The attention kernels take bf16/f16 on CUDA, so a float32 model
on CUDA runs its attention in bf16 (a warning says so once; the score and
the top-k stay float32, so the kept keys are HF's). Unsupported: Doge's
sliding-window configs, attention dropout while training, 4D masks.
"""

import warnings
import weakref

import torch

from .. import attention, topk, value_bias

__all__ = ["enable", "disable", "Padding", "attention_forward"]

# Configs of converted models (DogeForCausalLM and its DogeModel share
# one), by identity: HF configs compare by value and are not hashable.
_converted = {}
_warned_f32 = []


class Padding:
    """What a converted DogeModel passes its layers instead of a dense
    causal mask: `keys` is the 2D attention mask as bool [B, Lk] (True = a
    real token) over every key, cached ones included, or None when every
    key is real. Causality is the kernels' own (bottom-right aligned)."""

    __slots__ = ("keys",)

    def __init__(self, keys):
        self.keys = keys

    def for_keys(self, Lk):
        """The padding of the first Lk keys (None: no padding)."""
        if self.keys is None:
            return None
        if self.keys.shape[-1] < Lk:
            raise ValueError(
                f"attention_mask covers {self.keys.shape[-1]} positions but "
                f"the layer sees {Lk} keys (cache included): pass a mask "
                f"over every position, past tokens included")
        return self.keys[:, :Lk]


def padding_of(attention_mask):
    """The Padding record of a 2D HF attention mask (1/True = token)."""
    if attention_mask is None:
        return Padding(None)
    if not isinstance(attention_mask, torch.Tensor) or attention_mask.dim() != 2:
        got = (f"shape {tuple(attention_mask.shape)}"
               if isinstance(attention_mask, torch.Tensor)
               else type(attention_mask).__name__)
        raise ValueError(
            "dma's Doge attention takes a 2D attention_mask [batch, "
            f"positions] (1 = token, 0 = padding), got {got}; custom 4D "
            "masks are not supported")
    keys = attention_mask.to(torch.bool)
    # One host sync per model call (HF's sdpa path makes the same test):
    # without padding the kernels need no mask at all.
    return Padding(None if bool(keys.all()) else keys.contiguous())


def _rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def _rotary(x, cos, sin):
    """HF's rotary embedding on x [B, L, H, D] with cos/sin [B, L, D]."""
    cos, sin = cos.unsqueeze(2), sin.unsqueeze(2)
    return x * cos + _rotate_half(x) * sin


def _kernel_dtype(x):
    """The dtype the attention runs in: the model's, except float32 on
    CUDA (the kernels take bf16/f16), which runs in bf16."""
    if x.is_cuda and x.dtype == torch.float32:
        if not _warned_f32:
            _warned_f32.append(True)
            warnings.warn("dma_attention: a float32 Doge model on CUDA runs "
                          "its attention in bfloat16 (the score and top-k "
                          "stay float32)", stacklevel=3)
        return torch.bfloat16
    return x.dtype


# Cache methods that move, drop or reorder cached rows: the scores kept
# beside a cache are forgotten when one runs (recomputed on the next call).
_CACHE_MUTATORS = ("reorder_cache", "crop", "batch_repeat_interleave",
                   "batch_select_indices", "reset", "offload", "prefetch")


def _score_store(cache):
    """The per-layer scores kept beside `cache` ({layer: [B, Hkv, Lk]})."""
    store = getattr(cache, "_dma_scores", None)
    if store is None:
        store = {}
        try:
            cache._dma_scores = store
        except AttributeError:         # a cache that takes no attributes
            return None
        for name in _CACHE_MUTATORS:
            method = getattr(cache, name, None)
            if callable(method):
                def forget(*args, _method=method, **kwargs):
                    store.clear()
                    return _method(*args, **kwargs)
                setattr(cache, name, forget)
    return store


def _scores(module, v, new, cache):
    """The per-key score of every key [B, Hkv, Lk]. Without gradients and
    with a cache, the scores of the cached keys are kept beside the cache
    (HF caches hold K and V only) and only the `new` keys' are computed:
    a decode step costs O(new), not O(Lk), in the value bias."""
    dt = module.dt_proj
    def compute(values):
        return value_bias(values, dt.weight, module.A, dt.bias, form="exp")
    store = None
    if cache is not None and not torch.is_grad_enabled():
        store = _score_store(cache)
    if store is None:
        return compute(v)
    B, Lk = v.shape[0], v.shape[1]
    old = store.get(module.layer_idx)
    if (old is not None and old.shape[0] == B and old.shape[2] + new == Lk
            and old.device == v.device):
        score = torch.cat([old, compute(v[:, Lk - new:])], dim=2)
    else:
        score = compute(v)
    store[module.layer_idx] = score
    return score


def _checked_window(window, name):
    """`window` when it is a keep window (an integer >= 1, or None: keep
    every key), else a ValueError naming `name`."""
    if window is not None and (not isinstance(window, int) or window < 1):
        raise ValueError(f"{name} must be an integer >= 1 (or None: keep "
                         f"every key), got {window!r}")
    return window


def attention_forward(module, hidden_states, position_embeddings,
                      attention_mask=None, past_key_values=None, **kwargs):
    """DogeAttention.forward on dma's ops (same arguments and results:
    (output, None); no attention weights exist to return)."""
    if module.training and module.attention_dropout > 0:
        raise ValueError(
            f"attention_dropout = {module.attention_dropout} while training: "
            "dma's kernels have no attention dropout; set "
            "config.attention_dropout = 0.0 (Doge's default)")
    window = _checked_window(module.keep_window_size, "keep_window_size")
    if attention_mask is None:
        attention_mask = Padding(None)
    elif not isinstance(attention_mask, Padding):
        attention_mask = padding_of(attention_mask)

    B, L, _ = hidden_states.shape
    heads = (B, L, -1, module.head_dim)
    # The FlashAttention layout [B, L, heads, D] throughout: no transposes.
    q = module.q_norm(module.q_proj(hidden_states).view(heads))
    k = module.k_norm(module.k_proj(hidden_states).view(heads))
    v = module.v_proj(hidden_states).view(heads)
    cos, sin = position_embeddings
    q, k = _rotary(q, cos, sin), _rotary(k, cos, sin)
    if past_key_values is not None:
        # HF's caches hold [B, Hkv, L, D]; the kernels read the views.
        kc, vc = past_key_values.update(k.transpose(1, 2), v.transpose(1, 2),
                                        module.layer_idx)
        for name, cached, new in (("keys", kc, k), ("values", vc, v)):
            # torch.cat would promote a mixed-dtype cache silently.
            if cached.dtype != new.dtype or cached.device != new.device:
                raise ValueError(
                    f"the cache holds {name} as {cached.dtype} on "
                    f"{cached.device} but layer {module.layer_idx} computes "
                    f"{new.dtype} on {new.device}: build the cache for this "
                    "model's dtype and device (or move the model)")
        k, v = kc.transpose(1, 2), vc.transpose(1, 2)
    Lk = k.shape[1]
    padding = attention_mask.for_keys(Lk)

    score = _scores(module, v, L, past_key_values)
    dtype = _kernel_dtype(q)
    rows = keep = mask = None
    if window is not None and Lk > window:
        if L == 1:
            # One query (a decode step) sees every key: its per-query top-k
            # is the shared one, and the kernel walks only the w kept keys
            # instead of every cached key's tile.
            keep = topk(score.detach(), window, "shared", padding)
        else:
            rows = topk(score.detach(), window, "per_query", padding)
    elif padding is not None:
        mask = padding[:, None, None, :]
    o = attention(q.to(dtype), k.to(dtype), v.to(dtype),
                  bias=score.to(dtype)[:, :, None, :], mask=mask, keep=keep,
                  keep_rows=rows, causal=True, scale=module.scaling)
    o = o.to(hidden_states.dtype).reshape(B, L, -1)
    return module.o_proj(o), None


def _doge_modules():
    try:
        from transformers.models.doge import modeling_doge
    except ImportError as e:
        raise ImportError("dma_attention.integrations.doge needs transformers "
                          "with the Doge model (transformers >= 4.54)") from e
    return modeling_doge


def _is_converted(config):
    ref = _converted.get(id(config))
    return ref is not None and ref() is config


def _masks_as_padding(modeling_doge):
    """Makes modeling_doge's create_causal_mask return a Padding record for
    converted models (every other model gets HF's own mask)."""
    original = modeling_doge.create_causal_mask
    if getattr(original, "_dma_original", None) is not None:
        return

    def create_causal_mask(*args, **kwargs):
        config = kwargs.get("config", args[0] if args else None)
        if not _is_converted(config):
            return original(*args, **kwargs)
        return padding_of(kwargs.get("attention_mask"))

    create_causal_mask._dma_original = original
    create_causal_mask.__doc__ = original.__doc__
    modeling_doge.create_causal_mask = create_causal_mask


def enable(model):
    """Runs every DogeAttention layer of `model` on dma's ops (in place;
    returns the model). `disable(model)` undoes it."""
    modeling_doge = _doge_modules()
    layers = [m for m in model.modules()
              if isinstance(m, modeling_doge.DogeAttention)]
    if not layers:
        raise TypeError(f"{type(model).__name__} is not a Doge model (it has "
                        "no DogeAttention layers); enable() takes "
                        "DogeForCausalLM, DogeModel and the other Doge classes")
    config = model.config
    if getattr(config, "sliding_window", None) is not None:
        raise ValueError(f"config.sliding_window = {config.sliding_window}: "
                         "Doge's sliding-window attention is not supported "
                         "by dma's kernels (set it to None)")
    _checked_window(getattr(config, "keep_window_size", None),
                    "config.keep_window_size")
    _masks_as_padding(modeling_doge)
    _converted[id(config)] = weakref.ref(config)
    for layer in layers:
        layer.forward = attention_forward.__get__(layer)
    return model


def disable(model):
    """Gives `model` back HF's own Doge attention."""
    modeling_doge = _doge_modules()
    _converted.pop(id(model.config), None)
    for m in model.modules():
        if isinstance(m, modeling_doge.DogeAttention):
            m.__dict__.pop("forward", None)
    return model
