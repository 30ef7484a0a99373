"""The Python package on a CUDA GPU (skipped without one): forward and
backward on cuda tensors against the float64 reference of the exported masks,
gradients against PyTorch's scaled_dot_product_attention with the exported
token mask (fp32, mid-size), opcheck, torch.compile(fullgraph=True) equal to
eager, build + attention captured into a CUDA graph and replayed on new
inputs, and the same through torch.compile(mode="reduce-overhead"). The
per-call overhead is measured by bench_overhead.py (--device cuda)."""
import pytest
import torch

import voxattn
from conftest import pruned_sources, qkv, reference

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")

BSA = dict(grid=(4, 8, 8), block=(2, 4, 4), text=16, mask="bsa", kv_rule="topk", kv_topk=3, kv_min_blocks=1)
SHAPE = (1, 272, 2, 64)


def norm_err(a, r):
    a, r = a.double().cpu(), r.double().cpu()
    return float(((a - r) ** 2).sum() / (r ** 2).sum().clamp_min(1e-300))


@pytest.mark.parametrize("dtype,keep,mask", [(torch.float32, 1.0, "bsa"), (torch.bfloat16, 0.5, "bsa"),
                                             (torch.float16, 1.0, "svg")])
def test_forward_backward_match_reference(dtype, keep, mask):
    params = dict(BSA, mask=mask, query_keep=keep)
    if mask == "svg":
        params.pop("kv_rule"), params.pop("kv_topk"), params.pop("kv_min_blocks")
    plan = voxattn.Plan(**params)
    q, k, v = (t.cuda() for t in qkv(SHAPE, dtype=dtype, seed=3))
    qg, kg, vg = (t.clone().requires_grad_() for t in (q, k, v))
    plan.build(q, k, v)
    out, lse = voxattn.attention(qg, kg, vg, plan, return_lse=True)
    assert torch.equal(voxattn.attention(q, k, v, plan), out.detach())  # the fast path, which asks for no LSE
    dout = torch.randn_like(out)
    out.backward(dout)
    srcs = pruned_sources(plan, out.detach().cpu(), lse.cpu(), "bnhd") if keep < 1 else None
    qr, kr, vr = (t.detach().cpu().double().requires_grad_() for t in (q, k, v))
    ro, rl = reference(plan, qr, kr, vr, "bnhd", srcs)
    ro.backward(dout.cpu().double())
    lim = {torch.float32: 1e-9, torch.float16: 1e-5, torch.bfloat16: 1e-4}[dtype]
    assert norm_err(out.detach(), ro.detach()) < lim
    for g, r in ((qg.grad, qr.grad), (kg.grad, kr.grad), (vg.grad, vr.grad)):
        assert torch.isfinite(g).all()
        assert norm_err(g, r) < 10 * lim


def test_gradients_equal_sdpa_with_the_exported_mask():
    """Mid-size, fp32: voxattn's gradients equal autograd of PyTorch SDPA given the plan's token mask."""
    plan = voxattn.Plan(grid=(8, 16, 16), block=(4, 4, 4), text=64, mask="bsa", kv_rule="topk", kv_topk=6)
    b, n, h, d = 1, 8 * 16 * 16 + 64, 4, 64
    q, k, v = (t.cuda() for t in qkv((b, n, h, d), seed=5))
    plan.build(q, k)
    grads = []
    for impl in ("voxattn", "sdpa"):
        qg, kg, vg = (t.clone().requires_grad_() for t in (q, k, v))
        if impl == "voxattn":
            out = voxattn.attention(qg, kg, vg, plan)
        else:
            mask = torch.stack([torch.as_tensor(plan.token_mask(m)[0]) for m in range(h)]).cuda()
            out = torch.nn.functional.scaled_dot_product_attention(
                qg.transpose(1, 2), kg.transpose(1, 2), vg.transpose(1, 2), attn_mask=mask[None]).transpose(1, 2)
        out.backward(torch.ones_like(out) * 0.01 + out.detach())
        grads.append((qg.grad, kg.grad, vg.grad))
    for g, r in zip(*grads):
        assert norm_err(g, r) < 1e-9


def test_opcheck_and_compile_on_cuda():
    plan = voxattn.Plan(**BSA, query_keep=0.5)
    q, k, v = (t.cuda() for t in qkv(SHAPE, seed=1))
    torch.library.opcheck(torch.ops.voxattn.build.default, (plan.state(), q, k, v, plan.handle, False))
    qg, kg, vg = (t.clone().requires_grad_() for t in (q, k, v))
    torch.library.opcheck(torch.ops.voxattn.attention.default, (plan.state(), qg, kg, vg, plan.handle, False))
    torch._dynamo.reset()

    def step(p, q, k, v):
        p.build(q.detach(), k.detach())
        return voxattn.attention(q, k, v, p) * 2

    pe, pc = voxattn.Plan(**BSA), voxattn.Plan(**BSA)
    eager = step(pe, q, k, v)
    compiled = torch.compile(step, fullgraph=True)(pc, q, k, v)
    assert torch.equal(eager, compiled)


def test_cuda_graph_build_and_attention():
    """Build + attention captured into a torch CUDA graph, replayed on new inputs copied into the
    captured tensors: the same output as an eager build + attention on those inputs."""
    plan = voxattn.Plan(**BSA)
    q, k, v = (t.cuda() for t in qkv(SHAPE, dtype=torch.bfloat16, seed=7))
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(2):  # warm-up on the capture stream (its context, plan buffers)
            plan.build(q, k)
            out = voxattn.attention(q, k, v, plan)
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g, stream=s):
        plan.build(q, k)
        out = voxattn.attention(q, k, v, plan)
    q2, k2, v2 = (t.cuda() for t in qkv(SHAPE, dtype=torch.bfloat16, seed=8))
    q.copy_(q2), k.copy_(k2), v.copy_(v2)
    g.replay()
    torch.cuda.synchronize()
    replayed = out.clone()
    with torch.cuda.stream(s):
        plan.build(q2, k2)
        eager = voxattn.attention(q2, k2, v2, plan)
    torch.cuda.synchronize()
    assert torch.equal(replayed, eager)


def test_compile_reduce_overhead_build_and_attention():
    """torch.compile(mode="reduce-overhead", fullgraph=True) of build + attention: no graph break,
    CUDA graphs recorded without a skip, replays on new inputs equal to eager, one build per call.
    The plan's state is on the GPU and marked static: the build mutates it, and cudagraph trees take
    mutations of static inputs only. Their first call runs eagerly on their own stream (warm-up),
    which creates that stream's context and grows the C plan's scratch before the capture."""
    torch._dynamo.reset()
    counters = torch._dynamo.utils.counters
    counters.clear()
    plan, ref = voxattn.Plan(**BSA, device="cuda"), voxattn.Plan(**BSA)
    torch._dynamo.mark_static_address(plan.state())

    def step(q, k, v):
        plan.build(q, k)
        return voxattn.attention(q, k, v, plan) * 2

    compiled = torch.compile(step, mode="reduce-overhead", fullgraph=True)
    calls = 5  # warm-up, record, replays
    for seed in range(calls):
        q, k, v = (t.cuda() for t in qkv(SHAPE, dtype=torch.bfloat16, seed=20 + seed))
        got = compiled(q, k, v).clone()  # the graph's output memory is reused by the next replay
        ref.build(q, k)
        assert torch.equal(got, voxattn.attention(q, k, v, ref) * 2), seed
    assert counters["inductor"]["cudagraph_skips"] == 0, dict(counters["inductor"])
    assert plan.generation == calls
