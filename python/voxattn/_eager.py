"""When a call may skip the torch custom op (the eager fast path of ops.py):
plain torch tensors on one cpu or CUDA device, outside torch.compile and
other tracing, with no torch-function or dispatch mode, functorch transform
or forward-mode AD level active. Under any of those the custom op runs, so
that those mechanisms see it as before; the fast path calls the same C
entries (_calls.py) as the op does."""
from __future__ import annotations

import torch

from . import _calls as calls
from . import _runtime
from ._runtime import Context

_Tensor = torch.Tensor
_compiling = torch.compiler.is_compiling
_function_mode = torch._C._is_torch_function_mode_enabled
_dispatch_modes = torch._C._len_torch_dispatch_stack
_functorch = torch._C._are_functorch_transforms_active
_forward_ad = torch.autograd.forward_ad


def ok(*ts) -> bool:
    """No tracing, mode or transform is active and the tensors (None: an
    absent optional one) are plain torch.Tensor objects."""
    if _compiling() or _function_mode() or _dispatch_modes() or _functorch() or _forward_ad._current_level >= 0:
        return False
    for t in ts:
        if t is not None and type(t) is not _Tensor:
            return False
    return True


def context(q: torch.Tensor, *rest) -> Context | None:
    """The context of q's device and current stream where every tensor is on
    q's device and that is a cpu or CUDA one, else None."""
    if q.is_cuda:
        index = q.get_device()
        for t in rest:
            if t is not None and not (t.is_cuda and t.get_device() == index):
                return None
        return calls.tensor_context(q)
    if q.is_cpu:
        for t in rest:
            if t is not None and not t.is_cpu:
                return None
        return _runtime.context("cpu")
    return None


def plain(ctx: Context, key, *ts) -> bool:
    """The tensors go to the C library as they are (4-D, head_dim
    contiguous): known for a signature already described on ctx, else checked."""
    d = ctx.descs.get(key)
    if d is not None:
        return d.plain
    return all(t.dim() == 4 and calls.head_dim_contiguous(t) for t in ts if t is not None)
