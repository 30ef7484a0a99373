"""voxattn: block-sparse attention for video diffusion transformers (Sparse
VideoGen, Bidirectional Sparse Attention, dense, custom block masks) on the
cpu reference, CUDA, HIP, OpenCL and Vulkan, through libvoxattn's C API.

    import voxattn
    voxattn.devices()
    plan = voxattn.Plan(grid=(4, 8, 8), text=8, block=(1, 4, 4), mask="bsa", kv_tau=0.9)
    plan.build(q, k)                       # this step's masks (torch op voxattn::build)
    out = voxattn.attention(q, k, v, plan) # [B, N, H, D] torch tensors, differentiable

PyTorch is optional: devices(), backends() and Plan parameters work without it.
See docs/python.md."""
from ._capi import library_path
from ._runtime import Device, UnsupportedError, VoxError, backends, devices
from .plan import Plan, defaults
from .shard import frame_shard, restrict_plan

__version__ = "0.1.0"
__all__ = ["Device", "Plan", "UnsupportedError", "VoxError", "attention", "backends", "defaults",
           "devices", "frame_shard", "library_path", "merge", "restrict_plan"]

try:
    import torch as _torch  # noqa: F401
except ImportError:  # no torch: no tensor entry points
    def attention(*args, **kwargs):
        raise ImportError("voxattn.attention needs PyTorch (pip install torch)")

    def merge(*args, **kwargs):
        raise ImportError("voxattn.merge needs PyTorch (pip install torch)")
else:
    from .ops import attention, merge
