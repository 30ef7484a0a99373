#!/usr/bin/env python3
"""Replay of the sm_90a forward's device planner on real masks (session 13, backends/cuda/sm90/NOTES.md).

Reads a mask file written by `pack_stats --save FILE` (keep 1 first), replays the planner's axis choice
(vox_sm90::plan_axis), its greedy packing (VOX_SM90_PACK_CLOSE/_FIRST) and each item's K/V stream as the
producer emits it (whole 64-key tiles; a partial block's valid keys as 16-key chunks, four to a stage),
and prints per item class (full / holding a partial block, by rows) the share of stream stages and the
efficiency useful / (stages x maxrows x 64) (useful = row x valid-key products); then the orders
`plain` (the planner's), `edge` (partial video blocks first in the position order: VOX_SM90_PLAN_M_EDGE)
with the stages, and a greedy replay of the persistent grid's claims (132 SMs, item time = its stages,
text items first) with and without the head's items holding a partial block first (VOX_SM90_PLAN_M_RAGGED).

usage: pack_replay.py MASKFILE [--maxrows 192|128] [--heads N (heads of the full shape, cycled)]
e.g.  pack_stats --preset hunyuan-720p --block 4,4,8 --heads 6 --keep 1 --save h448.bin
      pack_replay.py h448.bin --maxrows 128 --heads 24
No third-party modules."""
import argparse, heapq, struct


def load(path):
    d = open(path, 'rb').read()
    NB, NBv, gt, gh, gw, V, _BH, _words = struct.unpack_from('8i', d, 0)
    o = 48  # struct geom: 8 ints, 2 pointers
    nk, = struct.unpack_from('i', d, o); o += 4
    BH, = struct.unpack_from('q', d, o); o += 8
    valid = list(struct.unpack_from('%di' % NB, d, o)); o += 4 * NB
    o += 40  # struct mask_set of the first keep
    heads = []
    for _ in range(BH):
        ptr = struct.unpack_from('%di' % (NB + 1), d, o); o += 4 * (NB + 1)
        cols = struct.unpack_from('%di' % ptr[NB], d, o); o += 4 * ptr[NB]
        kept = struct.unpack_from('%di' % NB, d, o); o += 4 * NB
        heads.append(([cols[ptr[i]:ptr[i + 1]] for i in range(NB)], [max(0, k) for k in kept]))
    return NB, NBv, gt, gh, gw, V, valid, heads


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('mask')
    ap.add_argument('--maxrows', type=int, default=192)
    ap.add_argument('--heads', type=int, default=0)
    a = ap.parse_args()
    NB, NBv, gt, gh, gw, V, valid, heads = load(a.mask)
    maxrows, nwg = a.maxrows, a.maxrows // 64

    def axis_order(ax, x):
        if ax == 1:
            h = x % gh; r = x // gh; w = r % gw; t = r // gw
            return (t * gh + h) * gw + w
        if ax == 2:
            t = x % gt; r = x // gt; w = r % gw; h = r // gw
            return (t * gh + h) * gw + w
        return x

    def planner_axis(lists):
        npair = min(NBv // 2, 16); ext = [gw, gh, gt]; sh = [0, 0, 0]
        for ax in range(3):
            if ext[ax] < 2 or NBv < 4:
                continue
            for k in range(npair):
                x = 2 * ((k * (NBv // 2)) // npair)
                s = set(lists[axis_order(ax, x)])
                sh[ax] += sum(1 for c in lists[axis_order(ax, x + 1)][:128] if c in s)
        ax = 0
        if sh[1] > sh[ax]: ax = 1
        if sh[2] > sh[ax]: ax = 2
        return ax

    def pack(order, rows):
        items, cur, tot, gfirst = [], [], 0, 0
        for b in order:
            r = rows[b]
            if cur and (tot + r > maxrows or len(cur) == 16 or (r > 0 and tot % 64 != 0 and len(cur) - gfirst >= 8)):
                items.append(cur); cur, tot = [], 0
            if r > 0 and (tot % 64 == 0 or (tot + r - 1) // 64 > tot // 64):
                gfirst = len(cur)
            cur.append(b); tot += r
        if cur:
            items.append(cur)
        return items

    def stages(union):
        st, pend = 0, 0
        for j in union:
            v = valid[j]
            st += v // 64
            pend += (v % 64 + 15) // 16
        return st + (pend + 3) // 4

    res = {}
    for name in ('plain', 'edge'):
        cls, per_head = {}, []
        for lists, rows in heads:
            ax = planner_axis(lists)
            order = [axis_order(ax, x) if x < NBv else x for x in range(NB)]
            if name == 'edge':
                order = [b for b in order[:NBv] if valid[b] < V] + [b for b in order[:NBv] if valid[b] >= V] + order[NBv:]
            hl = []
            for it in pack(order, rows):
                un = set(); useful = 0
                for b in it:
                    un.update(lists[b]); useful += rows[b] * sum(valid[j] for j in lists[b])
                s = stages(un)
                part = any(valid[b] < V for b in it)
                glob = any(b >= NBv for b in it)
                key = ('partial' if part else 'full', sum(rows[b] for b in it))
                c = cls.setdefault(key, [0, 0, 0]); c[0] += 1; c[1] += s; c[2] += useful
                hl.append((s, part, glob))
            per_head.append(hl)
        tot = sum(c[1] for c in cls.values()); use = sum(c[2] for c in cls.values())
        print('%s: stages %d, eff %.3f' % (name, tot, use / (tot * maxrows * 64)))
        if name == 'plain':
            for k in sorted(cls):
                c = cls[k]
                print('   %-7s %3d rows: %5d items, %.3f of the stages, eff %.3f' % (k[0], k[1], c[0], c[1] / tot,
                                                                                c[2] / (c[1] * maxrows * 64)))
        res[name] = per_head
    nh = a.heads or len(heads)

    def sim(per_head, ragged):
        H = [per_head[i % len(per_head)] for i in range(nh)]
        front = [it[0] for h in H for it in h if it[2]]
        seq = []
        for h in H:
            c = [it for it in h if not it[2]]
            if ragged:
                c = [it for it in c if it[1]] + [it for it in c if not it[1]]
            seq += [it[0] for it in c]
        pq = [0.0] * 132
        for s in front + seq:
            t = heapq.heappop(pq); heapq.heappush(pq, t + s)
        e = max(pq)
        return e, (e - sum(pq) / 132) / e
    for name in ('plain', 'edge'):
        for rg in (False, True):
            e, idle = sim(res[name], rg)
            print('grid replay, %s order%s: makespan %.0f stages, mean idle %.2f%%' % (name, ', ragged first' if rg else '',
                                                                                  e, 100 * idle))


if __name__ == '__main__':
    main()
