"""The examples run (examples/dit_attention.py, examples/train_step.py)."""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))

import dit_attention  # noqa: E402
import train_step  # noqa: E402


def test_dit_block_drop_in():
    r = dit_attention.main()
    assert r["dense"]["rel_error_vs_sdpa"] < 1e-5  # voxattn dense == SDPA
    assert r["bsa"]["density"] < 0.9 and r["bsa"]["kept_queries"] < 1
    assert 0 < r["bsa"]["rel_error_vs_sdpa"] < 0.3


def test_training_step_through_bsa():
    losses, model = train_step.main()
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    g = model.qkv.weight.grad
    assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0
