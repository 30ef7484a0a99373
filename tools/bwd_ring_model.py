#!/usr/bin/env python3
"""A discrete-event model of the Hopper backward's packed dK/dV CTA (backends/cuda/sm90/attention_backward_sm90.cuh):
one producer handing out stages through a ring of RING slots to two consumer warpgroups that take every stage in order
and compute the ones their unit lists (NOTES.md, session 19). It is meant to read ncu's stall shares, not to predict
absolute times.

Model, per streamed stage: the producer needs P cycles of its own (serial), a stage is ready L cycles after that (TMA,
fixer hop), and it may start a stage only when the stage RING earlier was released by both consumers. A stage belongs
to both consumers with probability PBOTH, else to one (the same as the previous single stage with probability RUN: the
ascending merge's runs). A consumer that owns a stage runs S^T/dP^T (TENS cycles of tensor work), then its P / dS math
and issue (MATH cycles, no tensor), then dV/dK (TENS cycles), then releases the stage; one that does not releases it
once it is ready. The tensor pipe is shared: two consumers in tensor phases each progress at half rate. STAGGER 1: a
consumer does not start S^T/dP^T while the other is in its S^T/dP^T phase (VOXATTN_SM90_BWD_STAGGER).

Calibration to e19 (H100, hunyuan's grid, 8 heads; ~2.1k cycles per streamed stage, consumers waiting for stages 19%
of their time, producer waiting for free slots 22%, 36% of the stages shared): P 1600, L 1200, MATH 1200, TENS 512,
RUN 0.5 gives a period of ~2.2k cycles, consumer waits 18%, producer waits 27%.

usage: tools/bwd_ring_model.py            (the table of NOTES.md session 19)
"""
import random


def run(P, L, MATH, TENS=512, PBOTH=0.36, RUN=0.5, RING=4, STAGGER=0, N=10000, seed=1, dt=10):
    rnd = random.Random(seed)
    own, last = [], 1
    for _ in range(N):
        if rnd.random() < PBOTH:
            own.append(3)
        else:
            last = last if rnd.random() < RUN else rnd.choice((1, 2))
            own.append(last)
    t, issued, pfree = 0, 0, 0
    ready = [None] * N
    rel = [[False] * N for _ in range(2)]
    pos, ph, rem = [0, 0], [None, None], [0.0, 0.0]
    cwait, pwait = 0, 0
    while min(pos) < N:
        if issued < N and t >= pfree:
            j = issued - RING
            if j < 0 or (rel[0][j] and rel[1][j]):
                ready[issued] = t + P + L
                pfree = t + P
                issued += 1
            else:
                pwait += dt
        share = 1.0 / max(1, sum(1 for c in range(2) if ph[c] in ('s', 'v')))
        for c in range(2):
            if pos[c] >= N:
                continue
            i = pos[c]
            if ph[c] is None:
                if ready[i] is None or t < ready[i]:
                    cwait += dt
                elif own[i] & (c + 1):
                    if STAGGER and ph[1 - c] == 's':
                        cwait += dt
                        continue
                    ph[c], rem[c] = 's', TENS
                else:
                    rel[c][i] = True
                    pos[c] += 1
            elif ph[c] == 's':
                rem[c] -= dt * share
                if rem[c] <= 0:
                    ph[c], rem[c] = 'm', MATH
            elif ph[c] == 'm':
                rem[c] -= dt
                if rem[c] <= 0:
                    ph[c], rem[c] = 'v', TENS
            else:
                rem[c] -= dt * share
                if rem[c] <= 0:
                    ph[c] = None
                    rel[c][i] = True
                    pos[c] += 1
        t += dt
    return t / N, cwait / (2 * t), pwait / t


if __name__ == '__main__':
    print('variant                     P   ring stagger  period  cons-wait  prod-wait')
    for name, P, ring, st in (('e19 calibration', 1600, 4, 0), ('producer 2x faster', 800, 4, 0),
                              ('ring 5 (PK5)', 1600, 5, 0), ('ring 8', 1600, 8, 0), ('stagger', 1600, 4, 1),
                              ('stagger + producer 2x', 800, 4, 1)):
        per, cw, pw = run(P, 1200, 1200, RING=ring, STAGGER=st)
        print('%-24s %5d %5d %5d %9.0f %9.2f %10.2f' % (name, P, ring, st, per, cw, pw))
