"""The C calls behind voxattn's torch ops, shared by the custom ops (the
torch.compile and op-autograd paths) and the eager fast path of ops.py:
- the context of a tensor's device and, on CUDA/HIP, current stream, looked
  up by (device index, raw stream pointer);
- vox_tensor structs prepared once per call signature (each tensor's shape,
  strides and dtype) and cached on the context: a call only writes its
  tensors' wrapped-buffer handles into them (Described);
- one function per C entry (build, forward, backward, merge, evaluate) that
  allocates the outputs, describes the tensors and calls the library under
  the context's lock, raising VoxError with the library's log line.
The Python-level checks (4-D tensors, a vox dtype) raise ValueError where a
signature is first described; the C library checks everything else."""
from __future__ import annotations

import ctypes as C

import torch

from . import _capi as capi
from ._capi import lib
from ._runtime import Context, context
from .plan import _dtype_name

# ------------------------------------------------------------- contexts

_cuda_ctx: dict = {}     # device index -> CUcontext (primary, retained once)
_stream_ctx: dict = {}   # (device index, raw stream) -> Context
_raw_stream = getattr(torch._C, "_cuda_getCurrentRawStream", None)


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


def _stream_context(index: int, stream: int) -> Context:
    hip = torch.version.hip is not None

    def native():
        nq = capi.NativeQueue()
        nq.backend = capi.BACKEND_HIP if hip else capi.BACKEND_CUDA
        nq.queue = stream
        if not hip:
            nq.context = _cuda_primary_context(index)
        return nq
    return context(f"{'hip' if hip else 'cuda'}:{index}", stream, native)


def tensor_context(t: torch.Tensor) -> Context:
    """The cached context for t's device and, on CUDA/HIP, the current stream."""
    if t.is_cuda:
        key = (t.get_device(), _raw_stream(t.get_device()))
        ctx = _stream_ctx.get(key)
        if ctx is None:
            ctx = _stream_ctx[key] = _stream_context(*key)
        return ctx
    if t.is_cpu:
        return context("cpu")
    raise ValueError(f"voxattn: tensors on {t.device} are not supported (cpu and cuda tensors are)")


# ------------------------------------------------------- tensor structs

BNHD, BHND, LSE = 0, 1, 2  # how a torch tensor maps to a vox_tensor (LSE: f32 [B, H, N], head_dim 1)

_VOX_DTYPE = {torch.float32: capi.DTYPES["f32"], torch.float16: capi.DTYPES["f16"],
              torch.bfloat16: capi.DTYPES["bf16"]}
_SIZE = C.sizeof(capi.Tensor)
_BUFFER = capi.Tensor.buffer.offset


def dims(t: torch.Tensor, bhnd: bool) -> tuple:
    """(batch, heads, tokens, head_dim) of a 4-D tensor in the given layout."""
    if t.dim() != 4:
        raise ValueError(f"voxattn: expected a 4-D tensor [B, {'H, N' if bhnd else 'N, H'}, D], got {tuple(t.shape)}")
    b, x, y, d = t.shape
    return (b, x, y, d) if bhnd else (b, y, x, d)


def head_dim_contiguous(t: torch.Tensor) -> bool:
    """The C tensor contract: head_dim elements are adjacent (other strides are free)."""
    return t.stride(-1) == 1 or t.size(-1) <= 1


def _fill(vt: capi.Tensor, t: torch.Tensor, kind: int) -> int:
    """Writes t's dtype, shape and strides into vt; returns the bytes t spans."""
    dtype = _VOX_DTYPE.get(t.dtype)
    if dtype is None:
        _dtype_name(t.dtype)  # raises ValueError naming the dtype
    if kind == LSE:
        if t.dim() != 3:
            raise ValueError(f"voxattn: an LSE is f32 [B, H, N], got {t.dtype} {tuple(t.shape)}")
        b, h, n, d = *t.shape, 1
        sb, sh, sn = t.stride()
    else:
        b, h, n, d = dims(t, kind == BHND)
        s = t.stride()
        sb, sh, sn = (s[0], s[1], s[2]) if kind == BHND else (s[0], s[2], s[1])
    vt.dtype, vt.batch, vt.heads, vt.tokens, vt.head_dim = dtype, b, h, n, d
    vt.stride_batch, vt.stride_head, vt.stride_token = sb, sh, sn
    span = 0 if 0 in t.shape else 1 + sum((size - 1) * step for size, step in zip(t.shape, t.stride()))
    return max(span * t.element_size(), 1)


class Described:
    """The vox_tensor structs of one call signature, in one array (merge
    passes runs of it as C arrays). addr[i]: tensor i's struct address (None
    for an absent optional tensor, passed as NULL); buffers[i]: a view of
    its buffer field, written per call; spans[i]: the bytes it reaches (the
    wrapped range); plain: every q/k/v-like tensor has a contiguous head_dim,
    so the eager fast path may pass it as it is."""
    __slots__ = ("array", "addr", "buffers", "spans", "plain")

    def __init__(self, tensors: tuple, kinds: tuple):
        self.array = (capi.Tensor * len(tensors))()
        base = C.addressof(self.array)
        self.addr = tuple(None if t is None else base + i * _SIZE for i, t in enumerate(tensors))
        self.buffers = tuple(None if a is None else C.c_void_p.from_address(a + _BUFFER) for a in self.addr)
        self.spans = tuple(None if t is None else _fill(vt, t, kind)
                           for vt, t, kind in zip(self.array, tensors, kinds))
        self.plain = all(head_dim_contiguous(t) for t, kind in zip(tensors, kinds) if t is not None and kind != LSE)


DESC_CACHE = 64  # signatures per context; the cache starts over when full


def _describe(ctx: Context, key, tensors: tuple, kinds: tuple) -> tuple:
    """The struct addresses of tensors for this call (the caller holds
    ctx.lock and has called ctx.begin()): the signature's cached structs
    with these tensors' wrapped buffers written in."""
    d = ctx.descs.get(key)
    if d is None:
        if len(ctx.descs) >= DESC_CACHE:
            ctx.descs.clear()
        d = ctx.descs[key] = Described(tensors, kinds)
    wraps = ctx.wraps
    for t, buf, span in zip(tensors, d.buffers, d.spans):
        if t is not None:
            ptr = t.data_ptr()
            h = wraps.get((ptr, span))
            buf.value = h if h is not None else ctx.wrap(ptr, span)
    return d.addr


def signature(op: str, bhnd: bool, tensors) -> tuple:
    """The cache key of a call: the op, the layout and each tensor's shape, strides and dtype."""
    return (op, bhnd) + tuple(None if t is None else (t.shape, t.stride(), t.dtype) for t in tensors)


def forward_key(q, k, v, bhnd: bool, with_lse: bool) -> tuple:
    """signature() of forward(), flat (the eager fast path computes it per call)."""
    return ("forward", bhnd, with_lse, q.shape, q.stride(), q.dtype, k.shape, k.stride(), k.dtype,
            v.shape, v.stride(), v.dtype)


def _new_like(t: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(t, memory_format=torch.contiguous_format)


def lse_like(q: torch.Tensor, bhnd: bool) -> torch.Tensor:
    b, h, n, _ = dims(q, bhnd)
    return q.new_empty((b, h, n), dtype=torch.float32)


# ----------------------------------------------------------- the calls

_KINDS = {False: (BNHD,) * 4 + (LSE,), True: (BHND,) * 4 + (LSE,)}
_BACKWARD_KINDS = {False: (BNHD,) * 4 + (LSE,) + (BNHD,) * 4, True: (BHND,) * 4 + (LSE,) + (BHND,) * 4}


def build(cp, q, k, v, bhnd: bool) -> None:
    """vox_plan_build of the C plan cp from q, k and (optional) v."""
    ctx = cp.ctx
    with ctx.lock:
        ctx.begin()
        a = _describe(ctx, signature("build", bhnd, (q, k, v)), (q, k, v), _KINDS[bhnd])
        cp.built = False
        ctx.check("vox_plan_build", lib.vox_plan_build(cp.handle, *a))
        cp.built = True


def forward(cp, q, k, v, bhnd: bool, with_lse: bool = True, key=None) -> tuple:
    """vox_attention_forward into a new out (q's shape, contiguous) and,
    with_lse, a new f32 lse [B, H, N] (else None: the library writes none).
    key: forward_key() where the caller has it already."""
    out = _new_like(q)
    lse = lse_like(q, bhnd) if with_lse else None
    ctx = cp.ctx
    with ctx.lock:
        ctx.begin()
        a = _describe(ctx, key or forward_key(q, k, v, bhnd, with_lse), (q, k, v, out, lse), _KINDS[bhnd])
        ctx.check("vox_attention_forward", lib.vox_attention_forward(cp.handle, *a))
    return out, lse


def backward(cp, q, k, v, out, lse, dout, bhnd: bool) -> tuple:
    """vox_attention_backward into new dq, dk, dv (the shapes of q, k, v, contiguous)."""
    dq, dk, dv = _new_like(q), _new_like(k), _new_like(v)
    key = ("backward", bhnd, q.shape, q.stride(), q.dtype, k.shape, k.stride(), k.dtype, v.shape, v.stride(),
           v.dtype, out.shape, out.stride(), out.dtype, lse.shape, lse.stride(), lse.dtype, dout.shape,
           dout.stride(), dout.dtype)
    ctx = cp.ctx
    with ctx.lock:
        ctx.begin()
        a = _describe(ctx, key, (q, k, v, out, lse, dout, dq, dk, dv), _BACKWARD_KINDS[bhnd])
        ctx.check("vox_attention_backward", lib.vox_attention_backward(cp.handle, *a))
    return dq, dk, dv


def merge(ctx: Context, outs: list, lses: list, bhnd: bool) -> tuple:
    """vox_attention_merge of n (out, lse) parts into a new (out, lse)."""
    out, lse = _new_like(outs[0]), torch.empty_like(lses[0], memory_format=torch.contiguous_format)
    n = len(outs)
    tensors = (*outs, *lses, out, lse)
    kind = BHND if bhnd else BNHD
    with ctx.lock:
        ctx.begin()
        a = _describe(ctx, signature("merge", bhnd, tensors), tensors, (kind,) * n + (LSE,) * n + (kind, LSE))
        ctx.check("vox_attention_merge", lib.vox_attention_merge(ctx.handle, n, a[0], a[n], a[2 * n], a[2 * n + 1]))
    return out, lse


def evaluate(cp, q, k, v, out, rows_per_head: int, bhnd: bool) -> dict:
    """vox_plan_evaluate of out against dense attention on sampled rows."""
    res = capi.EvalResult()
    ctx = cp.ctx
    with ctx.lock:
        ctx.begin()
        a = _describe(ctx, signature("evaluate", bhnd, (q, k, v, out)), (q, k, v, out), _KINDS[bhnd])
        ctx.check("vox_plan_evaluate", lib.vox_plan_evaluate(cp.handle, *a, int(rows_per_head), C.byref(res)))
    return {"recall": res.recall, "rel_error": res.rel_error, "rows": res.rows}
