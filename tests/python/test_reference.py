"""Forward and backward on the cpu reference backend against attention in
float64 computed with torch from the exported masks (token level), over
every mask mode, both layouts, text before/after, query pruning and dtypes."""
import pytest
import torch

import voxattn
from conftest import pruned_sources, qkv, reference

# (name, Plan kwargs, (B, N, H, D)): grid 2x8x8 (+8 text) with blocks 1x4x4 -> 8 video blocks
GRID = dict(grid=(2, 8, 8), block=(1, 4, 4))
CASES = [
    ("dense", dict(GRID, text=8), (1, 136, 2, 16)),
    ("dense-text-before-b2", dict(GRID, text=8, text_position="before", batch=2), (2, 136, 2, 16)),
    ("bsa-cumulative", dict(GRID, text=8, mask="bsa", kv_tau=0.5, kv_min_blocks=1), (1, 136, 2, 16)),
    ("bsa-topk-keep0.5", dict(GRID, text=8, mask="bsa", kv_rule="topk", kv_topk=3, kv_min_blocks=1,
                              query_keep=0.5, window=(1, 2, 2)), (1, 136, 2, 16)),
    ("bsa-stat", dict(GRID, mask="bsa", kv_rule="stat", kv_z=0.5, kv_min_blocks=1), (1, 128, 2, 32)),
    ("svg", dict(GRID, text=8, mask="svg", svg_sample_rows=16), (1, 136, 2, 16)),
    # CUSTOM: 9 blocks (8 video + 1 text); row 3 has no key (zero output, LSE -inf, no gradient)
    ("custom", dict(GRID, text=8, mask="custom",
                    custom_row_ptr=[0, 2, 4, 5, 5, 7, 8, 9, 11, 14],
                    custom_kv_block=[0, 8, 1, 2, 2, 0, 4, 5, 6, 3, 7, 0, 4, 8]), (1, 136, 2, 16)),
]
IDS = [c[0] for c in CASES]


def run(kwargs, shape, layout="bnhd", dtype=torch.float32, grad=False, seed=0):
    plan = voxattn.Plan(**kwargs)
    q, k, v = qkv(shape, dtype=dtype, layout=layout, seed=seed, requires_grad=grad)
    plan.build(q.detach(), k.detach(), v.detach(), layout=layout)
    out, lse = voxattn.attention(q, k, v, plan, return_lse=True, layout=layout)
    srcs = pruned_sources(plan, out.detach(), lse, layout) if plan.params["query_keep"] < 1 else None
    return plan, (q, k, v), out, lse, srcs


@pytest.mark.parametrize("layout", ["bnhd", "bhnd"])
@pytest.mark.parametrize("name,kwargs,shape", CASES, ids=IDS)
def test_forward_f32(name, kwargs, shape, layout):
    plan, (q, k, v), out, lse, srcs = run(kwargs, shape, layout)
    ref, ref_lse = reference(plan, q, k, v, layout, srcs)
    assert out.dtype == torch.float32 and out.shape == q.shape and lse.shape == (shape[0], shape[2], shape[1])
    torch.testing.assert_close(out.double(), ref, atol=2e-6, rtol=1e-5)
    torch.testing.assert_close(lse.double(), ref_lse, atol=2e-6, rtol=1e-5)
    if name == "custom":  # the 16 tokens of block 3 have no key
        empty = torch.as_tensor(~plan.token_mask(0)[0].any(-1))
        o = out.transpose(1, 2) if layout == "bnhd" else out
        assert empty.sum() == 16 and o[:, :, empty].abs().max() == 0 and (lse[:, :, empty] == float("-inf")).all()
    if srcs is not None:
        assert any((s != torch.arange(len(s))).any() for s in srcs), "no row was pruned"


@pytest.mark.parametrize("dtype,tol", [(torch.float16, 2e-3), (torch.bfloat16, 1.6e-2)], ids=["f16", "bf16"])
@pytest.mark.parametrize("name,kwargs,shape", [CASES[0], CASES[3], CASES[5]], ids=[IDS[0], IDS[3], IDS[5]])
def test_forward_half(name, kwargs, shape, dtype, tol):
    plan, (q, k, v), out, lse, srcs = run(kwargs, shape, dtype=dtype)
    ref, ref_lse = reference(plan, q, k, v, "bnhd", srcs)
    assert out.dtype == dtype
    torch.testing.assert_close(out.double(), ref, atol=tol, rtol=tol)
    torch.testing.assert_close(lse.double(), ref_lse, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("layout", ["bnhd", "bhnd"])
@pytest.mark.parametrize("name,kwargs,shape", CASES, ids=IDS)
def test_backward_f32(name, kwargs, shape, layout):
    plan, (q, k, v), out, lse, srcs = run(kwargs, shape, layout, grad=True)
    dout = torch.randn_like(out)
    dq, dk, dv = torch.autograd.grad(out, (q, k, v), dout)
    qr, kr, vr = (t.detach().double().requires_grad_() for t in (q, k, v))
    ref, _ = reference(plan, qr, kr, vr, layout, srcs)
    rq, rk, rv = torch.autograd.grad(ref, (qr, kr, vr), dout.double())
    for got, want in ((dq, rq), (dk, rk), (dv, rv)):
        torch.testing.assert_close(got.double(), want, atol=2e-5, rtol=1e-4)


def test_backward_bf16():
    plan, (q, k, v), out, lse, srcs = run(CASES[2][1], CASES[2][2], dtype=torch.bfloat16, grad=True)
    dout = torch.randn_like(out)
    grads = torch.autograd.grad(out, (q, k, v), dout)
    qr, kr, vr = (t.detach().double().requires_grad_() for t in (q, k, v))
    ref, _ = reference(plan, qr, kr, vr)
    want = torch.autograd.grad(ref, (qr, kr, vr), dout.double())
    for g, w in zip(grads, want):
        assert g.dtype == torch.bfloat16
        torch.testing.assert_close(g.double(), w, atol=3e-2, rtol=2e-2)
