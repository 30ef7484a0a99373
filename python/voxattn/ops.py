"""PyTorch integration: torch tensors described to the C API zero-copy
(vox_buffer_wrap on their data pointers, on the caller's current stream) and
three custom ops, voxattn::build, voxattn::attention and
voxattn::attention_backward, with fake (shape) functions and autograd, so
that eager, autograd and torch.compile(fullgraph=True) run the same code.
Why the ops take the plan as (state tensor, integer handle) is written up in
docs/python.md."""
from __future__ import annotations

import ctypes as C
from typing import Optional

import torch

from . import _capi as capi
from ._capi import lib
from ._runtime import context
from .plan import Plan, _dtype_name, lookup

# ----------------------------------------------------------- devices/streams

_cuda_ctx: dict = {}


def _cuda_primary_context(index: int) -> int:
    """CUcontext of torch's device `index` (the primary context, retained once)."""
    if index not in _cuda_ctx:
        cu = C.CDLL("libcuda.so.1")
        dev, ctx = C.c_int(), C.c_void_p()
        for call, args in (("cuInit", (0,)), ("cuDeviceGet", (C.byref(dev), index)),
                           ("cuDevicePrimaryCtxRetain", (C.byref(ctx), dev))):
            rc = getattr(cu, call)(*args)
            if rc:
                raise RuntimeError(f"voxattn: {call} failed with CUresult {rc}")
        _cuda_ctx[index] = ctx.value
    return _cuda_ctx[index]


def _context(t: torch.Tensor):
    """The cached context for t's device and, on CUDA/HIP, the current stream."""
    if t.device.type == "cpu":
        return context("cpu")
    if t.device.type == "cuda":
        index = t.device.index if t.device.index is not None else torch.cuda.current_device()
        stream = torch.cuda.current_stream(index).cuda_stream
        hip = torch.version.hip is not None

        def native():
            nq = capi.NativeQueue()
            nq.backend = capi.BACKEND_HIP if hip else capi.BACKEND_CUDA
            nq.queue = stream
            if not hip:
                nq.context = _cuda_primary_context(index)
            return nq
        return context(f"{'hip' if hip else 'cuda'}:{index}", stream, native)
    raise ValueError(f"voxattn: tensors on {t.device} are not supported (cpu and cuda tensors are)")


# ------------------------------------------------------------------ tensors

def _bhnd(layout: str) -> bool:
    if layout not in ("bnhd", "bhnd"):
        raise ValueError(f"voxattn: layout {layout!r} is not 'bnhd' or 'bhnd'")
    return layout == "bhnd"


def _dims(t: torch.Tensor, bhnd: bool) -> tuple:
    """(batch, heads, tokens, head_dim) of a 4-D tensor in the given layout."""
    if t.dim() != 4:
        raise ValueError(f"voxattn: expected a 4-D tensor [B, {'H, N' if bhnd else 'N, H'}, D], got {tuple(t.shape)}")
    b, x, y, d = t.shape
    return (b, x, y, d) if bhnd else (b, y, x, d)


def _prep(t: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    """head_dim must be contiguous (the C tensor contract); other strides pass as they are."""
    if t is not None and t.dim() == 4 and t.stride(-1) != 1 and t.size(-1) > 1:
        t = t.contiguous()
    return t


_VOX_DTYPE = {torch.float32: capi.DTYPES["f32"], torch.float16: capi.DTYPES["f16"],
              torch.bfloat16: capi.DTYPES["bf16"]}


class _Call:
    """One C call on a context: holds the context's lock throughout (one
    thread at a time per context) and describes tensors to the C API over
    wrapped buffers (Context.wrap_cached; the memory stays the caller's)."""

    def __init__(self, ctx):
        self.ctx = ctx

    def tensor(self, t: Optional[torch.Tensor], bhnd: bool, lse: bool = False):
        return None if t is None else C.byref(self.struct(t, bhnd, lse))

    def struct(self, t: torch.Tensor, bhnd: bool, lse: bool = False) -> capi.Tensor:
        """t as a vox_tensor (lse: f32 [B, H, N] as head_dim 1)."""
        shape, stride = t.shape, t.stride()
        span = 1
        for n, s in zip(shape, stride):
            if n == 0:
                span = 0
                break
            span += (n - 1) * s
        buf = self.ctx.wrap_cached(t.data_ptr(), span * t.element_size())
        dtype = _VOX_DTYPE.get(t.dtype)
        if dtype is None:
            _dtype_name(t.dtype)  # raises ValueError naming the dtype
        if lse:  # f32 [B, H, N] -> head_dim 1
            vt = capi.Tensor(buf, 0, dtype, shape[0], shape[1], shape[2], 1, *stride)
        elif bhnd:
            vt = capi.Tensor(buf, 0, dtype, *shape, *stride[:3])
        else:
            vt = capi.Tensor(buf, 0, dtype, shape[0], shape[2], shape[1], shape[3], stride[0], stride[2],
                             stride[1])
        return vt

    def __enter__(self):
        self.ctx.lock.acquire()
        self.ctx.lines = []
        self.ctx.trim_wraps()
        return self

    def __exit__(self, *exc):
        self.ctx.lock.release()


def _check_same_device(*ts) -> None:
    devs = {t.device for t in ts if t is not None}
    if len(devs) > 1:
        raise ValueError(f"voxattn: tensors on different devices: {sorted(map(str, devs))}")


def _bound(plan_handle: int, q: torch.Tensor, bhnd: bool, building: bool):
    plan = lookup(plan_handle)
    ctx = _context(q)
    return plan._bind(ctx, _dims(q, bhnd), _dtype_name(q.dtype), building)


def _lse_like(q: torch.Tensor, bhnd: bool) -> torch.Tensor:
    b, h, n, _ = _dims(q, bhnd)
    return q.new_empty((b, h, n), dtype=torch.float32)


# --------------------------------------------------------------- custom ops

@torch.library.custom_op("voxattn::build", mutates_args=("state",))
def _build_op(state: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: Optional[torch.Tensor],
              plan: int, bhnd: bool) -> None:
    _check_same_device(q, k, v)
    cp = _bound(plan, q, bhnd, building=True)
    with _Call(cp.ctx) as c:
        cp.built = False
        cp.ctx.call("vox_plan_build", lib.vox_plan_build, cp.handle, c.tensor(q, bhnd), c.tensor(k, bhnd),
                    c.tensor(v, bhnd))
        cp.built = True
    state.add_(1)


@_build_op.register_fake
def _(state, q, k, v, plan, bhnd):
    return None


@torch.library.custom_op("voxattn::attention", mutates_args=())
def _attention_op(state: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                  plan: int, bhnd: bool) -> tuple[torch.Tensor, torch.Tensor]:
    _check_same_device(q, k, v)
    cp = _bound(plan, q, bhnd, building=False)
    out, lse = q.new_empty(q.shape), _lse_like(q, bhnd)
    with _Call(cp.ctx) as c:
        cp.ctx.call("vox_attention_forward", lib.vox_attention_forward, cp.handle, c.tensor(q, bhnd),
                    c.tensor(k, bhnd), c.tensor(v, bhnd), c.tensor(out, bhnd), c.tensor(lse, bhnd, lse=True))
    return out, lse


@_attention_op.register_fake
def _(state, q, k, v, plan, bhnd):
    return q.new_empty(q.shape), _lse_like(q, bhnd)


@torch.library.custom_op("voxattn::attention_backward", mutates_args=())
def _attention_backward_op(state: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                           out: torch.Tensor, lse: torch.Tensor, dout: torch.Tensor, plan: int,
                           bhnd: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    _check_same_device(q, k, v, out, lse, dout)
    cp = _bound(plan, q, bhnd, building=False)
    dq, dk, dv = q.new_empty(q.shape), k.new_empty(k.shape), v.new_empty(v.shape)
    with _Call(cp.ctx) as c:
        cp.ctx.call("vox_attention_backward", lib.vox_attention_backward, cp.handle, c.tensor(q, bhnd),
                    c.tensor(k, bhnd), c.tensor(v, bhnd), c.tensor(out, bhnd), c.tensor(lse, bhnd, lse=True),
                    c.tensor(dout, bhnd), c.tensor(dq, bhnd), c.tensor(dk, bhnd), c.tensor(dv, bhnd))
    return dq, dk, dv


@_attention_backward_op.register_fake
def _(state, q, k, v, out, lse, dout, plan, bhnd):
    return q.new_empty(q.shape), k.new_empty(k.shape), v.new_empty(v.shape)


def _setup_context(ctx, inputs, output):
    state, q, k, v, plan, bhnd = inputs
    out, lse = output
    ctx.save_for_backward(state, q, k, v, out, lse)
    ctx.plan, ctx.bhnd = plan, bhnd
    ctx.mark_non_differentiable(lse)


def _backward(ctx, dout, dlse):
    try:
        state, q, k, v, out, lse = ctx.saved_tensors
    except RuntimeError as e:
        if "modified by an inplace operation" not in str(e):
            raise
        raise RuntimeError(
            "voxattn: the plan was built again between this attention call and its backward, so its "
            "masks are no longer the forward's; use one Plan per attention call site and step "
            f"(torch: {e})") from None
    dq, dk, dv = torch.ops.voxattn.attention_backward(state, q, k, v, out, lse, _prep(dout.contiguous()),
                                                      ctx.plan, ctx.bhnd)
    return None, dq, dk, dv, None, None


_attention_op.register_autograd(_backward, setup_context=_setup_context)

# --------------------------------------------------------------- Python API


def build(plan: Plan, q, k, v=None, *, layout: str = "bnhd") -> None:
    """Builds plan's masks from q, k (and v, read by SVG) on their device and stream."""
    bhnd = _bhnd(layout)
    torch.ops.voxattn.build(plan.state(), _prep(q), _prep(k), _prep(v), plan.handle, bhnd)


def attention(q, k, v, plan: Plan, return_lse: bool = False, *, layout: str = "bnhd"):
    """Block-sparse attention of q, k, v ([B, N, H, D], or [B, H, N, D] with
    layout="bhnd") under plan's masks; differentiable in q, k, v. With
    return_lse, also the f32 [B, H, N] log-sum-exp of each row."""
    if not isinstance(plan, Plan):
        raise TypeError(f"voxattn: plan must be a voxattn.Plan, got {type(plan).__name__}")
    bhnd = _bhnd(layout)
    out, lse = torch.ops.voxattn.attention(plan.state(), _prep(q), _prep(k), _prep(v), plan.handle, bhnd)
    return (out, lse) if return_lse else out


@torch.library.custom_op("voxattn::merge", mutates_args=())
def _merge_op(outs: list[torch.Tensor], lses: list[torch.Tensor], bhnd: bool) -> tuple[torch.Tensor, torch.Tensor]:
    _check_same_device(*outs, *lses)
    out, lse = outs[0].new_empty(outs[0].shape), lses[0].new_empty(lses[0].shape)
    ctx = _context(outs[0])
    with _Call(ctx) as c:
        n = len(outs)
        parts = (capi.Tensor * n)(*(c.struct(t, bhnd) for t in outs))
        part_lses = (capi.Tensor * n)(*(c.struct(t, bhnd, lse=True) for t in lses))
        ctx.call("vox_attention_merge", lib.vox_attention_merge, ctx.handle, n, parts, part_lses,
                 c.tensor(out, bhnd), c.tensor(lse, bhnd, lse=True))
    return out, lse


@_merge_op.register_fake
def _(outs, lses, bhnd):
    return outs[0].new_empty(outs[0].shape), lses[0].new_empty(lses[0].shape)


def merge(outs, lses, *, layout: str = "bnhd"):
    """Merges attention outputs computed over disjoint key sets (shards)
    through their LSEs: outs [B, N, H, D] (or [B, H, N, D] with layout="bhnd"),
    one dtype, lses f32 [B, H, N] as attention(..., return_lse=True) returns
    them. Returns (out, lse) = (sum_i exp(lse_i - L) outs[i], L) with
    L = logsumexp_i lse_i, new tensors (torch op voxattn::merge, not
    differentiable: ring attention's backward uses the merged out and lse,
    see examples/ring_attention.py). Rows where lse_i = -inf take nothing
    from outs[i]; all -inf gives 0 and -inf; NaN propagates per row."""
    bhnd = _bhnd(layout)
    outs, lses = [_prep(t) for t in outs], list(lses)
    if not outs or len(outs) != len(lses):
        raise ValueError(f"voxattn: merge needs as many outputs as LSEs, at least one (got {len(outs)}, {len(lses)})")
    for t in lses:
        if t.dim() != 3 or t.dtype != torch.float32:
            raise ValueError(f"voxattn: an LSE is f32 [B, H, N], got {t.dtype} {tuple(t.shape)}")
    return torch.ops.voxattn.merge(outs, lses, bhnd)


def evaluate(plan: Plan, q, k, v, out, rows_per_head: int, *, layout: str = "bnhd") -> dict:
    bhnd = _bhnd(layout)
    q, k, v, out = (_prep(t) for t in (q, k, v, out))
    _check_same_device(q, k, v, out)
    cp = _bound(plan.handle, q, bhnd, building=False)
    res = capi.EvalResult()
    with _Call(cp.ctx) as c:
        cp.ctx.call("vox_plan_evaluate", lib.vox_plan_evaluate, cp.handle, c.tensor(q, bhnd), c.tensor(k, bhnd),
                    c.tensor(v, bhnd), c.tensor(out, bhnd), int(rows_per_head), C.byref(res))
    return {"recall": res.recall, "rel_error": res.rel_error, "rows": res.rows}
