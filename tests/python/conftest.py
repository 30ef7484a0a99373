"""Shared helpers of the Python tests: inputs, and the float64 attention
reference built with torch from a plan's exported mask (tests/python/)."""
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed")

import voxattn  # noqa: E402


def qkv(shape, dtype=torch.float32, seed=0, layout="bnhd", requires_grad=False):
    """q, k, v of shape (B, N, H, D) in the given layout, values ~ N(0, 1)."""
    g = torch.Generator().manual_seed(seed)
    b, n, h, d = shape
    dims = (b, n, h, d) if layout == "bnhd" else (b, h, n, d)
    return tuple(torch.randn(dims, generator=g, dtype=torch.float32).to(dtype).requires_grad_(requires_grad)
                 for _ in range(3))


def to_bnhd(t, layout):
    return t if layout == "bnhd" else t.transpose(1, 2)


def pruned_sources(plan, out, lse, layout):
    """src[m][i]: the token whose output row token i carries (itself unless
    pruned). A pruned row's output and LSE are a bit-exact copy of a kept row
    of its block (docs/algorithms.md); the copy is found in the library's
    result and checked to exist."""
    o = to_bnhd(out, layout)
    b_, n, h_, _ = o.shape
    vol = plan.stats()["block_volume"]
    blk = torch.as_tensor(plan.token_slots()).long() // vol
    srcs = []
    for b in range(b_):
        for h in range(h_):
            _, keep = plan.token_mask(b * h_ + h)
            src = torch.arange(n)
            for i in torch.nonzero(torch.as_tensor(keep) == 0).flatten().tolist():
                cands = [j for j in torch.nonzero(blk == blk[i]).flatten().tolist()
                         if keep[j] == 1 and torch.equal(o[b, j, h], o[b, i, h]) and lse[b, h, j] == lse[b, h, i]]
                assert cands, f"pruned token {i} (b={b}, h={h}) carries no kept row of its block"
                src[i] = cands[0]
            srcs.append(src)
    return srcs


def reference(plan, q, k, v, layout="bnhd", srcs=None):
    """Attention in float64 under plan's exported masks (token level):
    out (q's layout) and lse [B, H, N]; differentiable; pruned rows copy
    their source rows (srcs from pruned_sources)."""
    qd, kd, vd = (to_bnhd(t, layout).double() for t in (q, k, v))
    b_, n, h_, d = qd.shape
    scale = plan.params["scale"] or d ** -0.5
    outs, lses = [], []
    for b in range(b_):
        ob, lb = [], []
        for h in range(h_):
            m = b * h_ + h
            allowed, _ = plan.token_mask(m)
            allowed = torch.as_tensor(allowed)
            has_key = allowed.any(-1, keepdim=True)
            s = (qd[b, :, h] @ kd[b, :, h].T) * scale
            s = s.masked_fill(~allowed, float("-inf")).masked_fill(~has_key, 0.0)
            p = torch.softmax(s, -1) * has_key
            o = p @ vd[b, :, h]
            lse = torch.logsumexp(s, -1).masked_fill(~has_key[:, 0], float("-inf"))
            if srcs is not None:
                o, lse = o[srcs[m]], lse[srcs[m]]
            ob.append(o)
            lb.append(lse)
        outs.append(torch.stack(ob, 1))
        lses.append(torch.stack(lb, 0))
    out = torch.stack(outs, 0)
    return (out if layout == "bnhd" else out.transpose(1, 2)), torch.stack(lses, 0)
