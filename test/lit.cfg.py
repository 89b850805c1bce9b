# -*- Python -*-
# lit configuration for the dma project's FileCheck tests.

import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "DMA"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.dma_obj_root, "test")
config.excludes = ["CMakeLists.txt", "README.md", "lit.cfg.py", "lit.site.cfg.py"]

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%dma_src_root", config.dma_src_root))

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)

tool_dirs = [config.dma_tools_dir, config.llvm_tools_dir]
tools = [
    ToolSubst("dma-opt", unresolved="fatal"),
    ToolSubst("dma-compile", unresolved="fatal"),
]
llvm_config.add_tool_substitutions(tools, tool_dirs)

# GPU tests need CUDA's ptxas; they are marked REQUIRES: cuda-toolkit.
if config.cuda_toolkit and os.path.exists(
    os.path.join(config.cuda_toolkit, "bin", "ptxas")
):
    config.available_features.add("cuda-toolkit")
    config.substitutions.append(("%cuda_toolkit", config.cuda_toolkit))
