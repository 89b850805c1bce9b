"""dma_attention inside other libraries' models.

    from dma_attention.integrations import doge
    doge.enable(model)      # transformers' Doge models on dma's ops

Each integration imports its library only when it is used.
"""

__all__ = ["doge"]
