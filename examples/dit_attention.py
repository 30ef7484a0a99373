"""A drop-in attention function for a video DiT block (HunyuanVideo-style
joint self-attention over video latents and text tokens; Wan's self-attention
is the same call without text), with the shapes scaled down for a CPU run.

    attn = VoxAttention(grid=(T, H, W), text=L, heads=..., mask="bsa")
    x = attn(q, k, v)      # q, k, v: [B, N, H, D] torch tensors, N = T*H*W + L

Each call builds the step's masks from q and k (plan.build) and runs
block-sparse attention; on CUDA tensors it runs on the current stream.
Run: python3 examples/dit_attention.py [--device cpu]"""
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F

import voxattn


class VoxAttention:
    """Replaces F.scaled_dot_product_attention in a DiT attention layer: one
    Plan per layer (its masks are rebuilt from each step's q and k)."""

    def __init__(self, grid, text=0, **plan_kwargs):
        self.plan = voxattn.Plan(grid=grid, text=text, **plan_kwargs)

    def __call__(self, q, k, v):
        if self.plan.needs_build:
            self.plan.build(q.detach(), k.detach(), v.detach())
        return voxattn.attention(q, k, v, self.plan)


class DiTBlock(nn.Module):
    """Pre-norm joint attention + MLP block; tokens are [video (frame-major), text]."""

    def __init__(self, dim, heads, attention):
        super().__init__()
        self.heads, self.attention = heads, attention
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.q_norm, self.k_norm = nn.RMSNorm(dim // heads), nn.RMSNorm(dim // heads)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(approximate="tanh"), nn.Linear(4 * dim, dim))

    def forward(self, x):
        b, n, _ = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, -1).unbind(2)  # [B, N, H, D] views
        q, k = self.q_norm(q), self.k_norm(k)
        x = x + self.proj(self.attention(q, k, v).reshape(b, n, -1))
        return x + self.mlp(self.norm2(x))


def sdpa(q, k, v):
    """The dense baseline: PyTorch's attention on [B, N, H, D]."""
    return F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)).transpose(1, 2)


def main(device="cpu", grid=(4, 8, 8), text=16, heads=4, head_dim=32, seed=0):
    torch.manual_seed(seed)
    dim, n = heads * head_dim, grid[0] * grid[1] * grid[2] + text
    x = torch.randn(1, n, dim, device=device)
    blocks = {"sdpa": sdpa,
              "dense": VoxAttention(grid, text, block=(2, 4, 4)),
              "bsa": VoxAttention(grid, text, block=(2, 4, 4), mask="bsa", kv_rule="topk", kv_topk=6, kv_min_blocks=2,
                                  query_keep=0.5, window=(1, 2, 2))}
    ref = None
    results = {}
    for name, attn in blocks.items():
        block = DiTBlock(dim, heads, attn).to(device)
        torch.manual_seed(seed + 1)
        block.load_state_dict(DiTBlock(dim, heads, sdpa).to(device).state_dict())  # same weights for all
        with torch.no_grad():
            y = block(x)
        ref = y if ref is None else ref
        err = ((y - ref).norm() / ref.norm()).item()
        stats = attn.plan.stats() if name != "sdpa" else {"density": 1.0, "kept_query_fraction": 1.0}
        results[name] = {"rel_error_vs_sdpa": err, "density": stats["density"],
                         "kept_queries": stats["kept_query_fraction"]}
        print(f"{name:6s} tokens {n} ({grid[0]}x{grid[1]}x{grid[2]} + {text} text), heads {heads}, D {head_dim}: "
              f"density {stats['density']:.3f}, kept queries {stats['kept_query_fraction']:.3f}, "
              f"block output vs SDPA: relative error {err:.2e}")
    return results


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    main(ap.parse_args().device)
