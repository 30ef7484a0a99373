"""The eager fast path: voxattn.attention, plan.build and autograd's
backward calling the C library without the torch custom ops. It must give
the ops' results, gradients and errors, be taken only where nothing traces
or intercepts the call (dispatch and torch-function modes; torch.compile is
test_torch.py's), and leave tensors the C contract does not take as they are
to the ops (which copy them)."""
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import voxattn
from conftest import qkv
from voxattn import ops

BSA = dict(grid=(2, 8, 8), block=(1, 4, 4), text=8, mask="bsa", kv_rule="topk", kv_topk=3, kv_min_blocks=1,
           query_keep=0.5, window=(1, 2, 2))
SHAPE = (1, 136, 2, 16)


@pytest.fixture
def op_runs(monkeypatch):
    """How many calls ran a custom op's body (each binds the plan through ops._bound; the fast path does not)."""
    runs = [0]
    bound = ops._bound

    def counting(*args, **kwargs):
        runs[0] += 1
        return bound(*args, **kwargs)
    monkeypatch.setattr(ops, "_bound", counting)
    return runs


@pytest.mark.parametrize("layout,dtype", [("bnhd", torch.float32), ("bhnd", torch.bfloat16)])
def test_fast_path_equals_the_ops(op_runs, layout, dtype):
    bhnd = layout == "bhnd"
    fast, op = voxattn.Plan(**BSA), voxattn.Plan(**BSA)
    q, k, v = qkv(SHAPE, dtype=dtype, layout=layout, seed=2)
    q2 = torch.flip(q, (2 if bhnd else 1,))
    fast.build(q, k, layout=layout)  # creates the C plan: through the op
    torch.ops.voxattn.build(op.state(), q, k, None, op.handle, bhnd)
    assert op_runs[0] == 2
    fast.build(q2, k, layout=layout)  # fast from here on
    torch.ops.voxattn.build(op.state(), q2, k, None, op.handle, bhnd)
    assert op_runs[0] == 3 and fast.generation == op.generation == 2

    out, lse = voxattn.attention(q, k, v, fast, return_lse=True, layout=layout)
    assert torch.equal(voxattn.attention(q, k, v, fast, layout=layout), out)
    with torch.inference_mode():
        assert torch.equal(voxattn.attention(q, k, v, fast, layout=layout), out)
    qg, kg, vg = (t.clone().requires_grad_() for t in (q, k, v))
    out_g = voxattn.attention(qg, kg, vg, fast, layout=layout)
    dout = torch.randn_like(out)
    grads = torch.autograd.grad(out_g, (qg, kg, vg), dout)
    assert op_runs[0] == 3

    out_o, lse_o = torch.ops.voxattn.attention(op.state(), q, k, v, op.handle, bhnd)
    assert torch.equal(out, out_o) and torch.equal(lse, lse_o) and torch.equal(out_g, out_o)
    grads_o = torch.ops.voxattn.attention_backward(op.state(), q, k, v, out_o, lse_o, dout, op.handle, bhnd)
    for g, g_o in zip(grads, grads_o):
        assert torch.equal(g, g_o)


def test_fast_path_errors_are_the_library_errors(op_runs):
    plan = voxattn.Plan(grid=(2, 4, 4), block=(1, 4, 4))
    q, k, v = qkv((1, 32, 1, 16))
    voxattn.attention(q, k, v, plan)
    runs = op_runs[0]
    bad = qkv((1, 40, 1, 16))
    with pytest.raises(voxattn.VoxError, match=r"q: shape \[1,1,40,16\], plan wants \[1,1,32,16\]") as fast:
        voxattn.attention(*bad, plan)
    assert op_runs[0] == runs  # raised by the fast path
    with pytest.raises(voxattn.VoxError) as op:
        torch.ops.voxattn.attention(plan.state(), *bad, plan.handle, False)
    assert str(fast.value) == str(op.value) and fast.value.status_name == "VOX_ERR_INVALID_ARGUMENT"
    with pytest.raises(voxattn.VoxError, match="dtype"):
        voxattn.attention(q, k.half(), v, plan)
    with pytest.raises(ValueError, match="dtype"):
        voxattn.attention(q.double(), k.double(), v.double(), plan)
    with pytest.raises(ValueError, match="4-D"):
        voxattn.attention(q[0], k[0], v[0], plan)
    # after the errors, the same plan still runs
    torch.testing.assert_close(voxattn.attention(q, k, v, plan), voxattn.attention(q, k, v, voxattn.Plan(
        grid=(2, 4, 4), block=(1, 4, 4))), rtol=0, atol=0)


def test_modes_and_copied_tensors_take_the_ops(op_runs):
    plan = voxattn.Plan(grid=(2, 4, 4), block=(1, 4, 4))
    q, k, v = qkv((1, 32, 2, 16))
    want = voxattn.attention(q, k, v, plan)
    runs = op_runs[0]

    class Record(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.ops = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ops.append(str(func))
            return func(*args, **(kwargs or {}))

    with Record() as rec:
        got = voxattn.attention(q, k, v, plan)
    assert "voxattn.attention.default" in rec.ops and torch.equal(got, want)
    with torch.device("cpu"):  # a torch-function mode
        assert torch.equal(voxattn.attention(q, k, v, plan), want)
    # head_dim not contiguous: the op path copies it first
    qt = q.transpose(-1, -2).contiguous().transpose(-1, -2)
    assert qt.stride(-1) != 1
    assert torch.equal(voxattn.attention(qt, k, v, plan), want)
    assert op_runs[0] == runs + 3


def test_double_backward_is_refused_as_by_the_ops():
    """create_graph runs the backward op, which has no autograd (no double backward), as before."""
    plan = voxattn.Plan(grid=(2, 4, 4), block=(1, 4, 4))
    q, k, v = qkv((1, 32, 1, 16), requires_grad=True)
    voxattn.attention(q.detach(), k.detach(), v.detach(), plan)
    out = voxattn.attention(q, k, v, plan)
    (gq,) = torch.autograd.grad(out.sum(), q, create_graph=True)
    with pytest.raises(RuntimeError, match="no autograd formula"):
        gq.sum().backward()
