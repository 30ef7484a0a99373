"""Ulysses sequence parallelism (DeepSpeed-Ulysses, as in xDiT/USP) with
voxattn: each of P processes holds N/P tokens of q, k, v (all heads); an
all-to-all turns them into all N tokens of H/P heads, each process builds its
own BSA plan and runs voxattn forward (and backward) on its heads, and an
all-to-all turns the output back into token shards. Checks the output and the
gradients against one process running all heads.
Run: python3 examples/ulysses.py [--world 2] [--device cpu|cuda] [--shape tiny]"""

import torch
import torch.distributed as dist

import voxattn
from _dist import inputs, main_of, plan_for, report, sync


class AllToAll(torch.autograd.Function):
    """x -> there(x, world), an all-to-all; its gradient is back(g, world),
    the reverse all-to-all."""

    @staticmethod
    def forward(ctx, x, world, there, back):
        ctx.world, ctx.back = world, back
        return there(x, world)

    @staticmethod
    def backward(ctx, g):
        return ctx.back(g, ctx.world), None, None, None


def seq_to_heads(x, world):
    """[B, N/P, H, D] token shard -> [B, N, H/P, D] head shard."""
    return AllToAll.apply(x, world, _seq_to_heads, _heads_to_seq)


def heads_to_seq(x, world):
    """[B, N, H/P, D] head shard -> [B, N/P, H, D] token shard."""
    return AllToAll.apply(x, world, _heads_to_seq, _seq_to_heads)


def _seq_to_heads(x, world):
    b, n, h, d = x.shape
    send = x.reshape(b, n, world, h // world, d).permute(2, 0, 1, 3, 4).contiguous()  # [P, B, N/P, H/P, D]
    recv = torch.empty_like(send)
    dist.all_to_all_single(recv, send)  # chunk j of every rank -> rank j
    return recv.permute(1, 0, 2, 3, 4).reshape(b, world * n, h // world, d)


def _heads_to_seq(x, world):
    b, n, h, d = x.shape
    send = x.reshape(b, world, n // world, h, d).permute(1, 0, 2, 3, 4).contiguous()  # [P, B, N/P, H/P, D]
    recv = torch.empty_like(send)
    dist.all_to_all_single(recv, send)
    return recv.permute(1, 2, 0, 3, 4).reshape(b, n // world, world * h, d)


def run(rank, world, device, shape, dtype_name, steps):
    dtype = getattr(torch, dtype_name)
    q, k, v, dout = inputs(shape, dtype, device)
    b, n, h, d = q.shape
    if n % world or h % world:
        raise ValueError(f"tokens {n} and heads {h} must divide by {world}")
    tok = slice(rank * n // world, (rank + 1) * n // world)
    ql, kl, vl = (t[:, tok].clone().requires_grad_() for t in (q, k, v))
    plan = plan_for(shape)
    times = []
    for _ in range(steps):
        for t in (ql, kl, vl):
            t.grad = None
        t0 = sync(device)
        qh, kh, vh = (seq_to_heads(t, world) for t in (ql, kl, vl))  # [B, N, H/P, D]
        plan.build(qh.detach(), kh.detach())
        oh = voxattn.attention(qh, kh, vh, plan)
        out = heads_to_seq(oh, world)  # [B, N/P, H, D]
        out.backward(dout[:, tok])
        times.append(sync(device) - t0)
    # one process, every head
    ref_plan = plan_for(shape)
    ref_plan.build(q, k)
    report(rank, f"ulysses: {world} processes, {shape} {dtype_name}, density {plan.stats()['density']:.3f}",
           f"step (all-to-all, build, forward, backward) {min(times) * 1e3:.1f} ms",
           ref_plan, q, k, v, dout, tok, (out, ql.grad, kl.grad, vl.grad))


main = main_of(run, __doc__)


if __name__ == "__main__":
    main()
