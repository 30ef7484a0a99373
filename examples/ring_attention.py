"""Ring attention with voxattn over block-sparse masks: each of P processes
holds one frame shard of q, k, v (the last also the text tokens); the KV
shards travel around the ring (isend/irecv to the next rank while computing),
each process runs voxattn on its queries against the KV shard it holds with a
CUSTOM plan restricted to the selected blocks between the two shards
(voxattn.restrict_plan: only those blocks are computed), and merges the
partial outputs through their LSEs (voxattn.merge). The backward goes around
the ring once more: each shard's dQ, dK, dV from vox_attention_backward with
the merged output and LSE, dK and dV travelling with their KV shard back to
its owner. Checks output and gradients against one process.
The masks: every rank builds the same BSA plan from the full q, k here (one
seed); an engine would build them where the whole sequence is seen.
voxattn's q and k share one token count, so a rank keeps full-length q, k, v
buffers holding its shards (zeros elsewhere: never read, their blocks are not
in the restricted masks).
Run: python3 examples/ring_attention.py [--world 2] [--device cpu|cuda] [--shape tiny]"""

import torch
import torch.distributed as dist

import voxattn
from _dist import inputs, main_of, plan_for, report, sync


def shards(plan, world):
    """Frame shards on block_t boundaries, the text with the last."""
    p = plan.params
    tb = -(-p["frames"] // p["block_t"])
    if tb < world:
        raise ValueError(f"{tb} frame blocks cannot make {world} shards")
    cut = [i * tb // world * p["block_t"] for i in range(world)] + [p["frames"]]
    return [voxattn.frame_shard(plan, (cut[i], cut[i + 1]), text=i == world - 1) for i in range(world)]


def exchange(tensors, rank, world, shapes_in):
    """Sends `tensors` to the next rank and receives the previous rank's
    (shapes given) as one batch (one NCCL group: sends and receives between
    the same two ranks cannot wait on each other); returns (requests,
    received tensors)."""
    nxt, prv = (rank + 1) % world, (rank - 1) % world
    recv = [torch.empty(s, dtype=t.dtype, device=t.device) for s, t in zip(shapes_in, tensors)]
    ops = [dist.P2POp(dist.isend, t.contiguous(), nxt) for t in tensors]
    ops += [dist.P2POp(dist.irecv, r, prv) for r in recv]
    return dist.batch_isend_irecv(ops), recv


def run(rank, world, device, shape, dtype_name, steps):
    dtype = getattr(torch, dtype_name)
    q, k, v, dout = inputs(shape, dtype, device)
    base = plan_for(shape)
    base.build(q, k)  # the masks (the same on every rank)
    sh = shards(base, world)
    mine = sh[rank]["tokens"]
    # one restricted plan per KV shard: my query blocks x that shard's key blocks
    plans = [voxattn.restrict_plan(base, sh[rank]["blocks"], sh[s]["blocks"]) for s in range(world)]
    size = lambda s: sh[s]["tokens"].stop - sh[s]["tokens"].start  # noqa: E731
    kv_shape = lambda s: (q.shape[0], size(s), q.shape[2], q.shape[3])  # noqa: E731
    qf, kf, vf = torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(v)
    qf[:, mine] = q[:, mine]
    times = []
    for _ in range(steps):
        t0 = sync(device)
        # ---- forward: P steps, KV shards moving to the next rank
        cur_k, cur_v = k[:, mine].clone(), v[:, mine].clone()
        acc = acc_lse = None
        for s in range(world):
            src = (rank - s) % world
            if s < world - 1:
                reqs, (nk, nv) = exchange([cur_k, cur_v], rank, world, [kv_shape((src - 1) % world)] * 2)
            kf.zero_(), vf.zero_()
            kf[:, sh[src]["tokens"]], vf[:, sh[src]["tokens"]] = cur_k, cur_v
            o, lse = voxattn.attention(qf, kf, vf, plans[src], return_lse=True)
            o, lse = o[:, mine], lse[:, :, mine]
            acc, acc_lse = (o, lse) if acc is None else voxattn.merge([acc, o], [acc_lse, lse])
            if s < world - 1:
                for r in reqs:
                    r.wait()
                cur_k, cur_v = nk, nv
        fwd = sync(device) - t0
        # ---- backward: P steps; dK, dV travel with their KV shard back home
        of, dof = torch.zeros_like(q), torch.zeros_like(q)
        lf = torch.zeros(q.shape[0], q.shape[2], q.shape[1], dtype=torch.float32, device=device)
        of[:, mine], dof[:, mine], lf[:, :, mine] = acc, dout[:, mine], acc_lse
        dq = torch.zeros_like(q[:, mine])
        cur_k, cur_v = k[:, mine].clone(), v[:, mine].clone()
        dk_acc, dv_acc = torch.zeros_like(cur_k), torch.zeros_like(cur_v)
        for s in range(world):
            src = (rank - s) % world
            kf.zero_(), vf.zero_()
            kf[:, sh[src]["tokens"]], vf[:, sh[src]["tokens"]] = cur_k, cur_v
            p = plans[src]
            gq, gk, gv = torch.ops.voxattn.attention_backward(p.state(), qf, kf, vf, of, lf, dof, p.handle, False)
            dq += gq[:, mine]
            dk_acc += gk[:, sh[src]["tokens"]]
            dv_acc += gv[:, sh[src]["tokens"]]
            reqs, recv = exchange([cur_k, cur_v, dk_acc, dv_acc], rank, world, [kv_shape((src - 1) % world)] * 4)
            for r in reqs:
                r.wait()
            cur_k, cur_v, dk_acc, dv_acc = recv
        times.append((fwd, sync(device) - t0))
    # one process, the whole sequence
    f, t = min(x[0] for x in times), min(x[1] for x in times)
    report(rank, f"ring: {world} processes, {shape} {dtype_name}, density {base.stats()['density']:.3f}",
           f"forward {f * 1e3:.1f} ms, forward + backward {t * 1e3:.1f} ms",
           base, q, k, v, dout, mine, (acc, dq, dk_acc, dv_acc))


main = main_of(run, __doc__)


if __name__ == "__main__":
    main()
