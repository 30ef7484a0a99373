"""Per-call overhead of voxattn's Python entry points over the raw C calls,
on the cpu reference backend with a tiny shape, or with --device cuda on the
current CUDA device (host time per call of asynchronous launches), not a
test; run by hand:
    VOXATTN_LIBRARY=build-tests/libvoxattn.so PYTHONPATH=python python3 tests/python/bench_overhead.py [--device cuda]
Prints microseconds per call (median of repeats) and the overhead over the
matching raw call: the C entry through ctypes on vox_tensor structs and
wrapped buffers prepared once (the raw call); the torch custom ops (what
torch.compile and the op's autograd run); voxattn.attention, plan.build and
autograd's backward in eager mode (the fast path that skips the custom op).
The raw calls use only the public ctypes mirror (_capi), no package internals."""
import ctypes as C
import statistics
import sys
import time

import torch

import voxattn
from voxattn import _capi as capi


def per_call_us(fn, n=2000, repeats=7):
    for _ in range(200):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        times.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(times)


class Raw:
    """vox_tensor structs over tensors wrapped once on the plan's context, and
    the C entries with void* arguments: the cheapest a ctypes caller can do."""

    def __init__(self, plan):
        self.ctx, self.plan = plan._cplan.ctx.handle, plan._cplan.handle
        self.bufs = []

    def tensor(self, t, lse=False):
        b = C.c_void_p()
        assert capi.lib.vox_buffer_wrap(self.ctx, t.data_ptr(), t.numel() * t.element_size(), C.byref(b)) == 0
        self.bufs.append(b.value)
        s = t.stride()
        dt = capi.DTYPES["f32"]
        if lse:  # f32 [B, H, N] as head_dim 1
            vt = capi.Tensor(b.value, 0, dt, t.shape[0], t.shape[1], t.shape[2], 1, s[0], s[1], s[2])
        else:  # [B, N, H, D]
            vt = capi.Tensor(b.value, 0, dt, t.shape[0], t.shape[2], t.shape[1], t.shape[3], s[0], s[2], s[1])
        self.bufs.append(vt)  # kept alive
        return C.addressof(vt)

    def fn(self, name, nargs):
        f = type(capi.lib.vox_status_string)((name, capi.lib))
        f.restype, f.argtypes = C.c_int, [C.c_void_p] * nargs
        return lambda *args: f(self.plan, *args)

    def close(self):
        for b in self.bufs:
            if isinstance(b, int):
                capi.lib.vox_buffer_destroy(b)


def main():
    torch.set_num_threads(1)
    dev = sys.argv[sys.argv.index("--device") + 1] if "--device" in sys.argv else "cpu"
    plan = voxattn.Plan(grid=(1, 4, 4), block=(1, 4, 4))
    bplan = voxattn.Plan(grid=(1, 4, 4), block=(1, 4, 4), mask="bsa", kv_rule="topk", kv_topk=1, kv_min_blocks=1)
    q, k, v, dout = (torch.randn(1, 16, 1, 16, device=dev) for _ in range(4))
    out, lse = voxattn.attention(q, k, v, plan, return_lse=True)
    bplan.build(q, k)
    raw, braw = Raw(plan), Raw(bplan)
    fargs = [raw.tensor(t) for t in (q, k, v, out)] + [raw.tensor(lse, lse=True)]
    dgrads = [raw.tensor(torch.empty_like(t)) for t in (q, k, v)]
    bargs = fargs[:4] + [fargs[4], raw.tensor(dout)] + dgrads
    fwd, bwd = raw.fn("vox_attention_forward", 6), raw.fn("vox_attention_backward", 10)
    build = braw.fn("vox_plan_build", 4)
    qk = [braw.tensor(t) for t in (q, k)]
    state, h, bstate, bh = plan.state(), plan.handle, bplan.state(), bplan.handle
    qg, kg, vg = (t.clone().requires_grad_() for t in (q, k, v))

    def fwd_bwd():
        o = voxattn.attention(qg, kg, vg, plan)
        torch.autograd.grad(o, (qg, kg, vg), dout)

    def raw_fwd_bwd():
        fwd(*fargs)
        bwd(*bargs)

    rows = [  # (name, baseline name or None, fn)
        ("raw vox_attention_forward", None, lambda: fwd(*fargs)),
        ("torch.ops.voxattn.attention", "raw vox_attention_forward",
         lambda: torch.ops.voxattn.attention(state, q, k, v, h, False)),
        ("voxattn.attention", "raw vox_attention_forward", lambda: voxattn.attention(q, k, v, plan)),
        ("voxattn.attention, return_lse", "raw vox_attention_forward",
         lambda: voxattn.attention(q, k, v, plan, return_lse=True)),
        ("voxattn.attention, autograd inputs", "raw vox_attention_forward",
         lambda: voxattn.attention(qg, kg, vg, plan)),
        ("voxattn.attention, inference_mode", "raw vox_attention_forward", None),
        ("raw vox_attention_backward", None, lambda: bwd(*bargs)),
        ("torch.ops.voxattn.attention_backward", "raw vox_attention_backward",
         lambda: torch.ops.voxattn.attention_backward(state, q, k, v, out, lse, dout, h, False)),
        ("raw forward + backward", None, raw_fwd_bwd),
        ("attention + autograd.grad", "raw forward + backward", fwd_bwd),
        ("raw vox_plan_build (bsa)", None, lambda: build(qk[0], qk[1], None)),
        ("torch.ops.voxattn.build", "raw vox_plan_build (bsa)",
         lambda: torch.ops.voxattn.build(bstate, q, k, None, bh, False)),
        ("plan.build", "raw vox_plan_build (bsa)", lambda: bplan.build(q, k)),
    ]
    res = {}
    for name, _, fn in rows:
        if fn is None:  # inference_mode
            with torch.inference_mode():
                res[name] = per_call_us(lambda: voxattn.attention(q, k, v, plan))
        else:
            res[name] = per_call_us(fn)
    if dev != "cpu":
        torch.cuda.synchronize()
    raw.close()
    braw.close()
    print(f"device {dev}")
    for name, base, _ in rows:
        over = f"overhead {res[name] - res[base]:7.1f} us" if base else ""
        print(f"{name:40s} {res[name]:8.1f} us/call   {over}")


if __name__ == "__main__":
    main()
