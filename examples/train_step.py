"""Training through BSA attention: a few optimizer steps of a small video
DiT block whose attention is voxattn's (masks rebuilt each step from q and
k, gradients from vox_attention_backward), scaled down for a CPU run.
Run: python3 examples/train_step.py [--device cpu]"""
import argparse

import torch
import torch.nn.functional as F

from dit_attention import DiTBlock, VoxAttention


def main(device="cpu", steps=4, grid=(2, 8, 8), text=8, heads=2, head_dim=32, seed=0):
    torch.manual_seed(seed)
    dim, n = heads * head_dim, grid[0] * grid[1] * grid[2] + text
    attn = VoxAttention(grid, text, block=(1, 4, 4), mask="bsa", kv_rule="topk", kv_topk=4, kv_min_blocks=2,
                        query_keep=0.5, window=(1, 2, 2))
    model = DiTBlock(dim, heads, attn).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    x = torch.randn(2, n, dim, device=device)   # noisy latents + text embeddings
    target = torch.randn(2, n, dim, device=device)  # e.g. the flow-matching velocity
    losses = []
    for step in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(x), target)
        loss.backward()  # through voxattn::attention_backward
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0).item()
        opt.step()
        losses.append(loss.item())
        print(f"step {step}: loss {loss.item():.4f}  grad norm {gnorm:.3f}  "
              f"attention density {attn.plan.stats()['density']:.3f}")
    return losses, model


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    main(ap.parse_args().device)
