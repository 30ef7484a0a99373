"""PyTorch integration: the custom ops voxattn::build, voxattn::attention,
voxattn::attention_backward and voxattn::merge, with fake (shape) functions
and autograd, which torch.compile and every other tracer see; and the Python
API over them (build, attention, merge, evaluate). Eager calls that nothing
traces or intercepts (_eager.py) skip the ops' dispatch and run the same C
calls directly (_calls.py: zero-copy, on the caller's current stream), with
_EagerAttention for autograd. Why the ops take the plan as (state tensor,
integer handle) is written up in docs/python.md."""
from __future__ import annotations

from typing import Optional

import torch

from . import _calls as calls
from . import _eager as eager
from .plan import Plan, _dtype_name, lookup

# ------------------------------------------------------------------ helpers

def _bhnd(layout: str) -> bool:
    if layout not in ("bnhd", "bhnd"):
        raise ValueError(f"voxattn: layout {layout!r} is not 'bnhd' or 'bhnd'")
    return layout == "bhnd"


def _prep(t: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    """head_dim must be contiguous (the C tensor contract); other strides pass as they are."""
    if t is not None and t.dim() == 4 and not calls.head_dim_contiguous(t):
        t = t.contiguous()
    return t


def _check_same_device(*ts) -> None:
    devs = {t.device for t in ts if t is not None}
    if len(devs) > 1:
        raise ValueError(f"voxattn: tensors on different devices: {sorted(map(str, devs))}")


def _bound(plan_handle: int, q: torch.Tensor, bhnd: bool, building: bool):
    plan = lookup(plan_handle)
    ctx = calls.tensor_context(q)
    return plan._bind(ctx, calls.dims(q, bhnd), _dtype_name(q.dtype), building)


# --------------------------------------------------------------- custom ops

@torch.library.custom_op("voxattn::build", mutates_args=("state",))
def _build_op(state: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: Optional[torch.Tensor],
              plan: int, bhnd: bool) -> None:
    _check_same_device(q, k, v)
    calls.build(_bound(plan, q, bhnd, building=True), q, k, v, bhnd)
    state.add_(1)


@_build_op.register_fake
def _(state, q, k, v, plan, bhnd):
    return None


@torch.library.custom_op("voxattn::attention", mutates_args=())
def _attention_op(state: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                  plan: int, bhnd: bool) -> tuple[torch.Tensor, torch.Tensor]:
    _check_same_device(q, k, v)
    return calls.forward(_bound(plan, q, bhnd, building=False), q, k, v, bhnd)


@_attention_op.register_fake
def _(state, q, k, v, plan, bhnd):
    return q.new_empty(q.shape), calls.lse_like(q, bhnd)


@torch.library.custom_op("voxattn::attention_backward", mutates_args=())
def _attention_backward_op(state: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                           out: torch.Tensor, lse: torch.Tensor, dout: torch.Tensor, plan: int,
                           bhnd: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    _check_same_device(q, k, v, out, lse, dout)
    return calls.backward(_bound(plan, q, bhnd, building=False), q, k, v, out, lse, dout, bhnd)


@_attention_backward_op.register_fake
def _(state, q, k, v, out, lse, dout, plan, bhnd):
    return q.new_empty(q.shape), k.new_empty(k.shape), v.new_empty(v.shape)


def _setup_context(ctx, inputs, output):
    state, q, k, v, plan, bhnd = inputs
    out, lse = output
    ctx.save_for_backward(state, q, k, v, out, lse)
    ctx.plan, ctx.bhnd = plan, bhnd
    ctx.mark_non_differentiable(lse)


def _gradients(ctx, dout) -> tuple:
    """dq, dk, dv of an attention call (the op's autograd and _EagerAttention's)."""
    try:
        state, q, k, v, out, lse = ctx.saved_tensors
    except RuntimeError as e:
        if "modified by an inplace operation" not in str(e):
            raise
        raise RuntimeError(
            "voxattn: the plan was built again between this attention call and its backward, so its "
            "masks are no longer the forward's; use one Plan per attention call site and step "
            f"(torch: {e})") from None
    dout = _prep(dout.contiguous())
    if not torch.is_grad_enabled() and eager.ok(q, k, v, out, lse, dout):  # (create_graph: the op)
        cp = lookup(ctx.plan)._cplan
        if cp is not None and cp.ctx is eager.context(q, k, v, out, lse, dout):
            return calls.backward(cp, q, k, v, out, lse, dout, ctx.bhnd)
    return torch.ops.voxattn.attention_backward(state, q, k, v, out, lse, dout, ctx.plan, ctx.bhnd)


def _backward(ctx, dout, dlse):
    return (None, *_gradients(ctx, dout), None, None)


_attention_op.register_autograd(_backward, setup_context=_setup_context)


class _EagerAttention(torch.autograd.Function):
    """voxattn::attention with autograd in eager mode, without the custom
    op's dispatch: the same C forward, saved tensors and backward as the op's
    autograd (a rebuilt plan is refused the same way)."""

    @staticmethod
    def forward(ctx, state, q, k, v, plan, bhnd, cp, key):
        out, lse = calls.forward(cp, q, k, v, bhnd, True, key)
        ctx.save_for_backward(state, q, k, v, out, lse)
        ctx.plan, ctx.bhnd = plan, bhnd
        ctx.mark_non_differentiable(lse)
        ctx.set_materialize_grads(False)  # no zero dLSE (lse takes no gradient)
        return out, lse

    @staticmethod
    def backward(ctx, dout, dlse):
        return (None, *_gradients(ctx, dout), None, None, None, None)


# --------------------------------------------------------------- Python API


def build(plan: Plan, q, k, v=None, *, layout: str = "bnhd") -> None:
    """Builds plan's masks from q, k (and v, read by SVG) on their device and stream."""
    if eager.ok(q, k, v) and (layout == "bnhd" or layout == "bhnd"):
        bhnd = layout == "bhnd"
        cp = plan._cplan
        if cp is not None and cp.ctx is eager.context(q, k, v) and eager.plain(cp.ctx, calls.signature(
                "build", bhnd, (q, k, v)), q, k, v):
            calls.build(cp, q, k, v, bhnd)
            plan.state().add_(1)
            return
    bhnd = _bhnd(layout)
    torch.ops.voxattn.build(plan.state(), _prep(q), _prep(k), _prep(v), plan.handle, bhnd)


def attention(q, k, v, plan: Plan, return_lse: bool = False, *, layout: str = "bnhd"):
    """Block-sparse attention of q, k, v ([B, N, H, D], or [B, H, N, D] with
    layout="bhnd") under plan's masks; differentiable in q, k, v. With
    return_lse, also the f32 [B, H, N] log-sum-exp of each row."""
    if type(plan) is Plan and eager.ok(q, k, v) and (layout == "bnhd" or layout == "bhnd"):
        bhnd = layout == "bhnd"
        cp = plan._cplan
        if cp is not None and cp.ctx is eager.context(q, k, v):
            grad = torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad)
            key = calls.forward_key(q, k, v, bhnd, return_lse or grad)
            if eager.plain(cp.ctx, key, q, k, v):
                if grad:
                    out, lse = _EagerAttention.apply(plan.state(), q, k, v, plan.handle, bhnd, cp, key)
                else:
                    out, lse = calls.forward(cp, q, k, v, bhnd, return_lse, key)
                return (out, lse) if return_lse else out
    if not isinstance(plan, Plan):
        raise TypeError(f"voxattn: plan must be a voxattn.Plan, got {type(plan).__name__}")
    bhnd = _bhnd(layout)
    out, lse = torch.ops.voxattn.attention(plan.state(), _prep(q), _prep(k), _prep(v), plan.handle, bhnd)
    return (out, lse) if return_lse else out


@torch.library.custom_op("voxattn::merge", mutates_args=())
def _merge_op(outs: list[torch.Tensor], lses: list[torch.Tensor], bhnd: bool) -> tuple[torch.Tensor, torch.Tensor]:
    _check_same_device(*outs, *lses)
    return calls.merge(calls.tensor_context(outs[0]), outs, lses, bhnd)


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
    return calls.evaluate(_bound(plan.handle, q, bhnd, building=False), q, k, v, out, rows_per_head, bhnd)
