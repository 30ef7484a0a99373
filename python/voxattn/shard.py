"""Plans over shards of the sequence, for sequence parallelism over several
processes (examples/ring_attention.py): the block range of a frame shard,
and a CUSTOM plan that keeps only some query blocks and some key blocks of a
built plan's masks, so that one call computes exactly the selected blocks
between a query shard and a KV shard (the rest of each row comes from other
shards and is merged through the LSE with voxattn.merge).

Why in Python over exported masks rather than a C option: a KV shard is a
set of key blocks, and a CUSTOM plan restricted to it is an ordinary plan
(same kernels, same validation, no new state in the forward); the cost is
one mask export per build and one small plan per (query shard, KV shard)
pair. See docs/python.md, "Sequence parallelism"."""
from __future__ import annotations

import numpy as np

from .plan import Plan


def frame_shard(plan: Plan, frames: tuple, text: bool = False) -> dict:
    """The tokens and blocks of frames [f0, f1) of plan's grid, plus the
    text (global) tokens and blocks when `text`: {"tokens": slice of the
    caller's token order (text after the video), "blocks": int array}. f0
    and f1 must fall on block boundaries (multiples of block_t, or the
    last frame)."""
    p = plan._params
    f0, f1 = int(frames[0]), int(frames[1])
    if p.text_position != 0 and text:
        raise ValueError("voxattn: frame_shard takes the text with the last frames: text_position must be 'after'")
    if not (0 <= f0 < f1 <= p.frames) or f0 % p.block_t or (f1 % p.block_t and f1 != p.frames):
        raise ValueError(f"voxattn: frames [{f0}, {f1}) do not fall on block_t = {p.block_t} boundaries of "
                         f"{p.frames} frames")
    yb, xb = -(-p.height // p.block_h), -(-p.width // p.block_w)
    tb = -(-p.frames // p.block_t)
    per_t = yb * xb
    blocks = np.arange(f0 // p.block_t * per_t, -(-f1 // p.block_t) * per_t, dtype=np.int32)
    hw = p.height * p.width
    end = f1 * hw
    if text:
        vol = p.block_t * p.block_h * p.block_w
        n_global = -(-p.text_tokens // vol)
        blocks = np.concatenate([blocks, np.arange(tb * per_t, tb * per_t + n_global, dtype=np.int32)])
        end += p.text_tokens
    return {"tokens": slice(f0 * hw, end), "blocks": blocks}


def restrict_plan(plan: Plan, query_blocks, key_blocks) -> Plan:
    """A CUSTOM plan with plan's masks (as built: call it after plan.build)
    restricted to rows of query_blocks and columns of key_blocks, one mask
    per (batch, head). Other rows have no keys (zero output, LSE -inf). The
    plan's query pruning is not carried over: plan must keep every query
    (query_keep = 1)."""
    if plan._params.query_keep < 1.0:
        raise ValueError("voxattn: restrict_plan needs query_keep = 1 (pruned rows copy other rows' output)")
    st = plan.stats()
    nb, masks = st["n_blocks"], st["n_heads_total"]
    qsel = np.zeros(nb, dtype=bool)
    qsel[np.asarray(query_blocks, dtype=np.int64)] = True
    ksel = np.zeros(nb, dtype=bool)
    ksel[np.asarray(key_blocks, dtype=np.int64)] = True
    row_ptr, cols = [np.zeros(1, dtype=np.int64)], []
    at = 0
    for m in range(masks):
        e = plan.export_mask(m)
        rp, kv = e["row_ptr"].astype(np.int64), e["kv_block"]
        rows = np.repeat(np.arange(nb), np.diff(rp))
        keep = ksel[kv] & qsel[rows]
        cols.append(kv[keep])
        counts = np.bincount(rows[keep], minlength=nb).astype(np.int64)
        row_ptr.append(at + np.cumsum(counts))
        at += int(counts.sum())
    p, f = plan._params, plan._fixed
    kinds = {0: "after", 1: "before"}
    return Plan((p.frames, p.height, p.width), text=p.text_tokens, text_position=kinds[p.text_position],
                block=(p.block_t, p.block_h, p.block_w), scale=p.scale if p.scale > 0 else None, mask="custom",
                custom_row_ptr=np.concatenate(row_ptr).astype(np.int32),
                custom_kv_block=np.concatenate(cols).astype(np.int32) if cols else np.zeros(0, np.int32),
                custom_masks=masks, batch=plan._cplan.params.batch, heads=plan._cplan.params.heads,
                head_dim=plan._cplan.params.head_dim, dtype=f["dtype"], device=plan.state().device)
