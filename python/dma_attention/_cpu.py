"""The CPU path: arrays -> kernels compiled by --dma-cpu-pipeline."""


def attention(q, k, v, bias, mask, keep, keep_rows, causal, scale, softcap):
    raise NotImplementedError("the CPU path of the Python package is not "
                              "written yet")
