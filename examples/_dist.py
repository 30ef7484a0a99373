"""Process-group plumbing shared by examples/ulysses.py and
examples/ring_attention.py: spawn `world` processes on one machine, one
torch.distributed process group (NCCL on CUDA, gloo on CPU), the problem
shapes and their BSA plan, the comparison with a single-process run and the
line that reports it."""
import argparse
import os
import socket
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import voxattn

# name: (batch, heads, head_dim, (frames, height, width), text tokens, block)
SHAPES = {
    "tiny": (1, 4, 32, (4, 8, 8), 16, (1, 4, 4)),
    "hunyuan-720p": (1, 24, 128, (33, 45, 80), 256, (4, 4, 4)),  # ~119K tokens
}


def plan_for(shape: str):
    """The BSA plan of a shape: top-k KV selection of a tenth of the video
    blocks (at least one)."""
    _, _, _, (f, hh, ww), text, (bt, bh, bw) = SHAPES[shape]
    nbv = -(-f // bt) * -(-hh // bh) * -(-ww // bw)
    return voxattn.Plan((f, hh, ww), text=text, block=(bt, bh, bw), mask="bsa", kv_rule="topk",
                        kv_topk=max(1, nbv // 10), kv_min_blocks=1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(fn, description: str, argv=None) -> None:
    """The examples' command line (--world --device --shape --dtype --steps),
    then fn run in that many processes (launch)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--world", type=int, default=2)
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--shape", default="tiny", choices=sorted(SHAPES))
    ap.add_argument("--dtype", default="float32", choices=("float32", "float16", "bfloat16"))
    ap.add_argument("--steps", type=int, default=1)
    a = ap.parse_args(argv)
    launch(fn, a.world, a.device, a.shape, a.dtype, a.steps)


def launch(fn, world: int, *args) -> None:
    """Runs fn(rank, world, device, *args) in `world` processes; a failing
    rank fails the launch."""
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(free_port()))
    mp.spawn(_entry, args=(fn, world, args), nprocs=world, join=True)


def _entry(rank, fn, world, args):
    device = args[0]
    cuda = device == "cuda"
    if cuda:  # one GPU per rank where there are enough, else ranks share GPU 0
        torch.cuda.set_device(rank % torch.cuda.device_count())
    dist.init_process_group("nccl" if cuda else "gloo", rank=rank, world_size=world)
    try:
        fn(rank, world, torch.device("cuda", torch.cuda.current_device()) if cuda else torch.device("cpu"), *args[1:])
    finally:
        dist.destroy_process_group()


def inputs(shape: str, dtype, device, seed=0):
    """q, k, v, dout [B, N, H, D], the same on every rank (one seed)."""
    b, h, d, grid, text, _ = SHAPES[shape]
    n = grid[0] * grid[1] * grid[2] + text
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(b, n, h, d, generator=g).to(device=device, dtype=dtype) for _ in range(4)]


def sync(device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def check(name: str, got, want, tol: float, rank: int) -> float:
    err = (got.float() - want.float()).abs().max().item()
    scale = max(1.0, want.float().abs().max().item())
    if not err <= tol * scale:
        raise AssertionError(f"rank {rank}: {name} differs from the single-process run: max |diff| {err:.3e} "
                             f"(tolerance {tol * scale:.1e})")
    return err


def check_one_process(plan, q, k, v, dout, rows, got, rank: int) -> list:
    """Runs the whole sequence in this process with `plan` (built) and checks
    got = (out, dq, dk, dv) of this rank's `rows` against it; returns the max
    |diff| of each."""
    qr, kr, vr = (t.clone().requires_grad_() for t in (q, k, v))
    ref = voxattn.attention(qr, kr, vr, plan)
    ref.backward(dout)
    tol = 1e-5 if q.dtype == torch.float32 else 2e-2
    want = (ref, qr.grad, kr.grad, vr.grad)
    return [check(name, g, w[:, rows], tol, rank) for name, g, w in zip(("out", "dq", "dk", "dv"), got, want)]


def main_of(fn, doc: str):
    """An example's main(argv=None): its command line (cli, described by the
    first line of doc) running fn."""
    return lambda argv=None: cli(fn, doc.splitlines()[0], argv)


def report(rank: int, run: str, timing: str, plan, q, k, v, dout, rows, got) -> None:
    """Checks this rank's got against the whole sequence in one process
    (check_one_process, same arguments), then rank 0 prints `run` (what ran),
    the max |diff| of each and `timing`, ending in ": ok"."""
    errs = check_one_process(plan, q, k, v, dout, rows, got, rank)
    if rank == 0:
        print(f"{run}: max |diff| out {errs[0]:.1e}, dq {errs[1]:.1e}, dk {errs[2]:.1e}, dv {errs[3]:.1e}; "
              f"{timing}: ok")
