"""Per-call overhead of the torch op over the raw C call, on the cpu
reference backend with a tiny shape, or with --device cuda on the current CUDA
device (host time per call of asynchronous launches), not a test; run by hand:
    VOXATTN_LIBRARY=build-tests/libvoxattn.so PYTHONPATH=python python3 tests/python/bench_overhead.py [--device cuda]
Prints microseconds per call (median of repeats) for: vox_attention_forward
through ctypes on pre-wrapped buffers (the raw call), torch.ops.voxattn.attention,
voxattn.attention without and with autograd inputs."""
import ctypes as C
import statistics
import sys
import time

import torch

import voxattn
from voxattn import ops
from voxattn._capi import lib


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


def main():
    torch.set_num_threads(1)
    dev = sys.argv[sys.argv.index("--device") + 1] if "--device" in sys.argv else "cpu"
    plan = voxattn.Plan(grid=(1, 4, 4), block=(1, 4, 4))
    q, k, v = (torch.randn(1, 16, 1, 16, device=dev) for _ in range(3))
    out, lse = voxattn.attention(q, k, v, plan, return_lse=True)
    cp = plan._cplan
    call = ops._Call(cp.ctx).__enter__()  # holds the context lock
    args = [call.tensor(t, False) for t in (q, k, v, out)] + [call.tensor(lse, False, lse=True)]
    fwd = lib.vox_attention_forward

    def raw():
        fwd(cp.handle, *args)

    state, h = plan.state(), plan.handle
    res = {"raw C call (ctypes, pre-wrapped)": per_call_us(raw),
           "torch.ops.voxattn.attention": per_call_us(lambda: torch.ops.voxattn.attention(state, q, k, v, h, False)),
           "voxattn.attention": per_call_us(lambda: voxattn.attention(q, k, v, plan))}
    qg, kg, vg = (t.clone().requires_grad_() for t in (q, k, v))
    res["voxattn.attention, autograd inputs"] = per_call_us(lambda: voxattn.attention(qg, kg, vg, plan))
    with torch.inference_mode():
        res["voxattn.attention, inference_mode"] = per_call_us(lambda: voxattn.attention(q, k, v, plan))
    call.__exit__(None, None, None)
    if dev != "cpu":
        torch.cuda.synchronize()
    print(f"device {dev}")
    base = res["raw C call (ctypes, pre-wrapped)"]
    for name, us in res.items():
        print(f"{name:40s} {us:8.1f} us/call   overhead {us - base:7.1f} us")


if __name__ == "__main__":
    main()
