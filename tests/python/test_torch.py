"""PyTorch integration: torch.library.opcheck on every op (schema, fake
tensors, autograd registration, AOT dispatch with dynamic shapes) and
torch.compile(fullgraph=True) equal to eager, forward and backward."""
import pytest
import torch

import voxattn
from conftest import qkv

BSA = dict(grid=(2, 8, 8), block=(1, 4, 4), text=8, mask="bsa", kv_rule="topk", kv_topk=3, kv_min_blocks=1,
           query_keep=0.5, window=(1, 2, 2))
SHAPE = (1, 136, 2, 16)


@pytest.mark.parametrize("layout", ["bnhd", "bhnd"])
def test_opcheck_every_op(layout):
    bhnd = layout == "bhnd"
    plan = voxattn.Plan(**BSA)
    q, k, v = qkv(SHAPE, layout=layout)
    torch.library.opcheck(torch.ops.voxattn.build.default, (plan.state(), q, k, v, plan.handle, bhnd))
    qg, kg, vg = (t.clone().requires_grad_() for t in (q, k, v))
    torch.library.opcheck(torch.ops.voxattn.attention.default, (plan.state(), qg, kg, vg, plan.handle, bhnd))
    out, lse = torch.ops.voxattn.attention(plan.state(), q, k, v, plan.handle, bhnd)
    dout = torch.randn_like(out)
    torch.library.opcheck(torch.ops.voxattn.attention_backward.default,
                          (plan.state(), q, k, v, out, lse, dout, plan.handle, bhnd))


def test_compile_fullgraph_equals_eager():
    torch._dynamo.reset()
    plan_e, plan_c = voxattn.Plan(**BSA), voxattn.Plan(**BSA)

    def step(plan, q, k, v):
        plan.build(q.detach(), k.detach())
        out, lse = voxattn.attention(q, k, v, plan, return_lse=True)
        return out * 2, lse

    compiled = torch.compile(step, fullgraph=True)
    for seed in (0, 1):  # the second step reuses the compiled graph on new inputs
        q, k, v = qkv(SHAPE, seed=seed, requires_grad=True)
        qc, kc, vc = (t.detach().clone().requires_grad_() for t in (q, k, v))
        out_e, lse_e = step(plan_e, q, k, v)
        out_c, lse_c = compiled(plan_c, qc, kc, vc)
        assert torch.equal(out_e, out_c) and torch.equal(lse_e, lse_c)
        dout = torch.randn_like(out_e)
        ge = torch.autograd.grad(out_e, (q, k, v), dout)
        gc = torch.autograd.grad(out_c, (qc, kc, vc), dout)
        for a, b in zip(ge, gc):
            assert torch.equal(a, b)
    assert plan_c.generation == 2  # the build ran in the compiled graph, once per step


def test_compile_keeps_build_before_attention_order():
    """Two builds and two attention calls on one plan in one graph: each
    attention sees the masks of the build before it (the state tensor orders them)."""
    torch._dynamo.reset()
    plan = voxattn.Plan(**BSA)
    q, k, v = qkv(SHAPE)
    q2 = torch.flip(q, (1,))

    def two(q, q2, k, v):
        plan.build(q, k)
        a = voxattn.attention(q, k, v, plan)
        plan.build(q2, k)
        b = voxattn.attention(q2, k, v, plan)
        return a, b

    a_c, b_c = torch.compile(two, fullgraph=True)(q, q2, k, v)
    a_e, b_e = two(q, q2, k, v)
    assert torch.equal(a_c, a_e) and torch.equal(b_c, b_e)
