"""Sequence parallelism: voxattn.merge and voxattn.restrict_plan on one
process (KV shards of a BSA plan merged through the LSE give the plan's own
output; -inf and NaN LSEs), then examples/ulysses.py and
examples/ring_attention.py with 2 processes over gloo on the cpu reference
(each checks its output and gradients against one process and prints ok)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed")
dist = pytest.importorskip("torch.distributed")

import voxattn  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _bsa_plan(q, k):
    plan = voxattn.Plan((4, 4, 4), text=8, block=(1, 4, 4), mask="bsa", kv_rule="topk", kv_topk=2, kv_min_blocks=1)
    plan.build(q, k)
    return plan


@pytest.mark.parametrize("layout", ["bnhd", "bhnd"])
def test_kv_shards_merge_to_the_plan_output(layout):
    g = torch.Generator().manual_seed(1)
    n = 4 * 4 * 4 + 8
    q, k, v = (torch.randn(1, n, 2, 16, generator=g) for _ in range(3))
    plan = _bsa_plan(q, k)
    ref, ref_lse = voxattn.attention(q, k, v, plan, return_lse=True)
    nb = plan.stats()["n_blocks"]
    outs, lses, density = [], [], 0.0
    for frames, text in (((0, 1), False), ((1, 3), False), ((3, 4), True)):
        shard = voxattn.frame_shard(plan, frames, text=text)
        p = voxattn.restrict_plan(plan, range(nb), shard["blocks"])
        o, lse = voxattn.attention(q, k, v, p, return_lse=True)
        density += p.stats()["density"]
        outs.append(o if layout == "bnhd" else o.transpose(1, 2))
        lses.append(lse)
    # a shard that holds no key of a row gives lse -inf there
    assert torch.isinf(lses[0]).any()
    out, lse = voxattn.merge(outs, lses, layout=layout)
    out = out if layout == "bnhd" else out.transpose(1, 2)
    assert (out - ref).abs().max() < 1e-5 and (lse - ref_lse).abs().max() < 1e-5
    # the shard plans hold exactly the plan's blocks, each once (nothing extra computed)
    assert abs(density - plan.stats()["density"]) < 1e-12


def test_merge_special_lse():
    o = [torch.randn(1, 3, 1, 4), torch.randn(1, 3, 1, 4)]
    l0 = torch.tensor([[[0.5, -float("inf"), float("nan")]]])
    l1 = torch.tensor([[[-float("inf"), -float("inf"), 1.0]]])
    o[0][0, 1] = float("nan")  # a row without keys is not read
    out, lse = voxattn.merge(o, [l0, l1])
    assert torch.equal(out[0, 0], o[0][0, 0]) and lse[0, 0, 0] == 0.5
    assert torch.equal(out[0, 1], torch.zeros(1, 4)) and lse[0, 0, 1] == -float("inf")
    assert torch.isnan(out[0, 2]).all() and torch.isnan(lse[0, 0, 2])
    with pytest.raises(ValueError):
        voxattn.merge([o[0]], [l0, l1])
    with pytest.raises(voxattn.VoxError, match="shape"):
        voxattn.merge([o[0], o[1][:, :2]], [l0, l1[:, :, :2]])


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="no gloo")
@pytest.mark.parametrize("example", ["ulysses.py", "ring_attention.py"])
def test_example_two_processes(example):
    env = dict(os.environ)
    # the processes import the voxattn this test imported (the source tree's or the installed one)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(voxattn.__file__).resolve().parents[1]), env.get("PYTHONPATH", "")])
    r = subprocess.run([sys.executable, str(ROOT / "examples" / example), "--world", "2", "--device", "cpu"],
                       cwd=ROOT / "examples", env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert ": ok" in r.stdout, r.stdout
