#!/usr/bin/env python3
"""PyTorch baselines for `voxattn bench`, written in the same JSON schema.

On a machine with PyTorch and a CUDA GPU this times, for the same shapes:

  torch-cudnn  dense scaled_dot_product_attention, cuDNN backend
  torch-flash  dense scaled_dot_product_attention, FlashAttention backend
  torch-flex   flex_attention with *the same block mask* voxattn built
               (exported by `voxattn bench --export-mask DIR`)

For flex, q/k/v are permuted into voxattn's block layout with the exported
token_slots (padding slots are zero and masked out as keys), and the exported
per-(batch, head) block CSR becomes a BlockMask with BLOCK_SIZE = the voxattn
block volume: exactly the block pairs voxattn computes. The permutation itself
is not timed (it is done once per input set).

Timing: CUDA events around each call, warm-up runs, then >= 20 timed runs
rotating among 3 input sets; median, min, max, p90. bf16 by default.

Without torch (or without a GPU) it prints why, still validates any mask
directories given (pure Python), writes an empty results list and exits 0.

With --backward each baseline also times its backward (torch.autograd.grad
of the output with a fixed dout, graph retained) alone and forward + backward,
in the fields bench --backward writes (bwd_ms, fwdbwd_ms and effective TFLOP/s
counting 2.5x and 3.5x the forward's FLOPs); a backward that fails (e.g. flex
with a block size it does not compile) is reported in "bwd_status".

usage: baselines.py [--masks DIR] [--preset NAME ...] [--bench voxattn.json]
                    [--json FILE] [--runs N] [--warmup N] [--dtype bf16|f16]
                    [--skip cudnn,flash,flex] [--backward]
"""
import argparse
import datetime
import glob
import json
import os
import socket
import struct
import sys

# Mirrors perf/workload.c (name: batch, heads, head_dim, frames, height, width, text, text_before).
PRESETS = {
    "tiny": (1, 2, 64, 4, 8, 8, 8, False),
    "wan-1.3b-480p": (1, 12, 128, 21, 30, 52, 0, False),
    "wan-14b-720p": (1, 40, 128, 21, 45, 80, 0, False),
    "hunyuan-720p": (1, 24, 128, 33, 45, 80, 256, False),
    "cogvideox-5b": (1, 48, 64, 13, 30, 45, 226, True),
}


def log(msg):
    print("baselines: " + msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------- .npy files

def read_npy(path):
    """Returns (shape, flat list or numpy array). numpy if present, else pure Python."""
    try:
        import numpy as np
        a = np.load(path, allow_pickle=False)
        return a.shape, a
    except ImportError:
        pass
    import array
    import ast
    with open(path, "rb") as f:
        magic = f.read(6)
        if magic != b"\x93NUMPY":
            raise ValueError("%s: not a .npy file" % path)
        major, _minor = f.read(2)
        hl = struct.unpack("<H" if major == 1 else "<I", f.read(2 if major == 1 else 4))[0]
        hdr = ast.literal_eval(f.read(hl).decode("latin1"))
        code = {"<i4": "i", "<i8": "q", "|i1": "b"}[hdr["descr"]]
        a = array.array(code)
        a.frombytes(f.read())
        if sys.byteorder != "little":
            a.byteswap()
        return tuple(hdr["shape"]), a


def load_mask_dir(path):
    with open(os.path.join(path, "meta.json")) as f:
        meta = json.load(f)
    m = {"meta": meta, "path": path}
    for name in ("row_ptr", "kv_offsets", "kv_block", "token_slots"):
        m[name] = read_npy(os.path.join(path, name + ".npy"))
    if meta.get("has_keep"):
        m["keep"] = read_npy(os.path.join(path, "keep.npy"))
    return m


def check_mask(m):
    """Structural checks of an exported mask (pure Python); returns the density."""
    meta = m["meta"]
    M, NB, N = meta["masks"], meta["n_blocks"], meta["tokens"]
    (rs, rp), (os_, off), (ks, kv), (ts, slots) = m["row_ptr"], m["kv_offsets"], m["kv_block"], m["token_slots"]
    if tuple(rs) != (M, NB + 1) or tuple(os_) != (M + 1,) or tuple(ts) != (N,) or ks[0] != meta["nnz"]:
        raise ValueError("%s: array shapes do not match meta.json" % m["path"])
    if meta["nnz"] > 2000000:  # large: shapes only (the full check is pure Python)
        return meta["nnz"] / float(M * NB * NB)
    rp, off, kv, slots = list(rp.ravel()) if hasattr(rp, "ravel") else list(rp), list(off), list(kv), list(slots)
    rp, off, kv, slots = [int(x) for x in rp], [int(x) for x in off], [int(x) for x in kv], [int(x) for x in slots]
    for i in range(M):
        row = rp[i * (NB + 1):(i + 1) * (NB + 1)]
        if row[0] != 0 or row[-1] != off[i + 1] - off[i]:
            raise ValueError("%s: mask %d: row_ptr does not match kv_offsets" % (m["path"], i))
        for r in range(NB):
            cols = kv[off[i] + row[r]:off[i] + row[r + 1]]
            if any(c < 0 or c >= NB for c in cols) or any(a >= b for a, b in zip(cols, cols[1:])):
                raise ValueError("%s: mask %d row %d: columns not ascending in range" % (m["path"], i, r))
    if len(set(slots)) != N or min(slots) < 0 or max(slots) >= meta["padded_tokens"]:
        raise ValueError("%s: token_slots not a permutation into the padded layout" % m["path"])
    return len(kv) / float(M * NB * NB)


# -------------------------------------------------------------------- records

def record(dev, dev_name, shape, mode, dtype, block=None, param="", extra=None):
    b, h, d, f, hh, w, g, tb = shape["tuple"]
    r = {
        "device": dev, "device_name": dev_name, "backend": "torch", "preset": shape["name"],
        "batch": b, "heads": h, "head_dim": d, "frames": f, "height": hh, "width": w, "text": g,
        "text_before": tb, "tokens": f * hh * w + g, "dtype": dtype, "block": block, "mode": mode,
        "param": param, "tau": None, "topk": None, "target_density": None, "keep": 1.0, "status": "ok",
        "density": 1.0, "kept_query_fraction": 1.0, "ms_median": None, "ms_min": None, "ms_max": None,
        "ms_p90": None, "runs": 0, "warmup": 0, "input_sets": 3, "tflops_effective": None, "flops": None,
        "flops_dense": 4.0 * (f * hh * w + g) ** 2 * d * b * h, "build_ms": None,
        "speedup_vs_dense": None, "dense_reference": "torch-cudnn", "timer": "device", "mask_dir": None,
        "bwd_ms": None, "fwdbwd_ms": None, "bwd_tflops_effective": None, "fwdbwd_tflops_effective": None,
    }
    if extra:
        r.update(extra)
    return r


def stats(ms, r):
    ms = sorted(ms)
    n = len(ms)
    r["runs"] = n
    r["ms_min"], r["ms_max"] = ms[0], ms[-1]
    r["ms_median"] = ms[n // 2] if n % 2 else 0.5 * (ms[n // 2 - 1] + ms[n // 2])
    r["ms_p90"] = ms[max(0, -(-9 * n // 10) - 1)]
    if r["flops"]:
        r["tflops_effective"] = r["flops"] / (r["ms_median"] * 1e-3) / 1e12


# ---------------------------------------------------------------------- torch

def time_fn(torch, fn, inputs, warmup, runs):
    for i in range(warmup):
        fn(*inputs[i % len(inputs)])
    torch.cuda.synchronize()
    out = []
    for i in range(runs):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn(*inputs[i % len(inputs)])
        b.record()
        b.synchronize()
        out.append(a.elapsed_time(b))
    return out


def time_backward(torch, fn, inputs, warmup, runs, r):
    """Times the backward of fn alone (autograd.grad on a retained graph) and forward + backward;
    fills r's bwd fields (medians), or r["bwd_status"] with the reason it failed."""
    try:
        sets = []
        for q, k, v in inputs:
            q, k, v = (x.detach().requires_grad_(True) for x in (q, k, v))
            out = fn(q, k, v)
            sets.append((q, k, v, out, torch.randn_like(out)))

        def bwd(q, k, v, out, g):
            torch.autograd.grad(out, (q, k, v), g, retain_graph=True)

        def fwdbwd(q, k, v, out, g):
            torch.autograd.grad(fn(q, k, v), (q, k, v), g)

        for key, f, mult in (("bwd", bwd, 2.5), ("fwdbwd", fwdbwd, 3.5)):
            ms = sorted(time_fn(torch, f, sets, warmup, runs))
            n = len(ms)
            med = ms[n // 2] if n % 2 else 0.5 * (ms[n // 2 - 1] + ms[n // 2])
            r[key + "_ms"] = med
            if r["flops"]:
                r[key + "_tflops_effective"] = mult * r["flops"] / (med * 1e-3) / 1e12
        log("%-12s %-14s %-4s backward %9.3f ms  %7.1f TFLOP/s   fwd+bwd %9.3f ms" % (
            r["device"], r["preset"], r["mode"], r["bwd_ms"], r["bwd_tflops_effective"] or 0, r["fwdbwd_ms"]))
        del sets
    except Exception as e:  # noqa: BLE001
        r["bwd_status"] = status_of(torch, e)
        log("%-12s %-14s %-4s backward: %s" % (r["device"], r["preset"], r["mode"], r["bwd_status"]))


def status_of(torch, e):
    if isinstance(e, torch.cuda.OutOfMemoryError):
        return "skipped: out of GPU memory"
    msg = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
    return "unsupported: %s: %s" % (type(e).__name__, msg)


def run_dense(torch, args, shape, dt, dev_name, results):
    import torch.nn.functional as F
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:
        SDPBackend = sdpa_kernel = None
    b, h, d, f, hh, w, g, tb = shape["tuple"]
    N = f * hh * w + g
    kinds = [("torch-cudnn", "CUDNN_ATTENTION"), ("torch-flash", "FLASH_ATTENTION")]
    kinds = [k for k in kinds if k[0].split("-")[1] not in args.skip]
    if not kinds:
        return
    recs = []
    try:
        inputs = [tuple(torch.randn(b, h, N, d, device="cuda", dtype=dt) for _ in range(3)) for _ in range(3)]
    except Exception as e:  # noqa: BLE001
        for dev, _ in kinds:
            r = record(dev, dev_name, shape, "dense", args.dtype)
            r["status"] = status_of(torch, e)
            results.append(r)
        return
    for dev, backend in kinds:
        r = record(dev, dev_name, shape, "dense", args.dtype)
        r["flops"] = r["flops_dense"]
        try:
            if sdpa_kernel is None:
                raise RuntimeError("torch.nn.attention.sdpa_kernel not available")
            bk = getattr(SDPBackend, backend)

            def fn(q, k, v, bk=bk):
                with sdpa_kernel(bk):
                    return F.scaled_dot_product_attention(q, k, v)

            ms = time_fn(torch, fn, inputs, args.warmup, args.runs)
            r["warmup"] = args.warmup
            stats(ms, r)
            log("%-12s %-14s dense  %9.3f ms  %7.1f TFLOP/s" % (dev, shape["name"], r["ms_median"],
                                                                r["tflops_effective"]))
            if args.backward:
                time_backward(torch, fn, inputs, args.warmup, args.runs, r)
        except Exception as e:  # noqa: BLE001
            r["status"] = status_of(torch, e)
            log("%-12s %-14s dense  %s" % (dev, shape["name"], r["status"]))
        recs.append(r)
    del inputs
    torch.cuda.empty_cache()
    results.extend(recs)


def build_block_mask(torch, np, m, dev):
    """BlockMask of an exported voxattn mask: partial blocks are those holding padding."""
    from torch.nn.attention.flex_attention import BlockMask
    meta = m["meta"]
    B, H, NB, V = meta["batch"], meta["heads"], meta["n_blocks"], meta["block_volume"]
    Npad = meta["padded_tokens"]
    slots = np.asarray(m["token_slots"][1], dtype=np.int64)
    valid = np.zeros(Npad, dtype=bool)
    valid[slots] = True
    block_full = valid.reshape(NB, V).all(axis=1)
    rp = np.asarray(m["row_ptr"][1]).reshape(B * H, NB + 1).astype(np.int64)
    off = np.asarray(m["kv_offsets"][1]).astype(np.int64)
    kv = np.asarray(m["kv_block"][1]).astype(np.int64)
    part_n = np.zeros((B * H, NB), dtype=np.int32)
    full_n = np.zeros((B * H, NB), dtype=np.int32)
    part_i = np.zeros((B * H, NB, NB), dtype=np.int32)
    full_i = np.zeros((B * H, NB, NB), dtype=np.int32)
    flops = 0.0
    valid_per_block = valid.reshape(NB, V).sum(axis=1).astype(np.float64)
    for i in range(B * H):
        cols = kv[off[i]:off[i + 1]]
        rows = np.repeat(np.arange(NB), np.diff(rp[i]))
        flops += 4.0 * meta["head_dim"] * float(np.sum(valid_per_block[rows] * valid_per_block[cols]))
        for sel, cnt, idx in ((block_full[cols], full_n, full_i), (~block_full[cols], part_n, part_i)):
            r_, c_ = rows[sel], cols[sel]
            counts = np.bincount(r_, minlength=NB)
            starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
            pos = np.arange(len(r_)) - starts[r_]
            cnt[i] = counts
            idx[i, r_, pos] = c_

    def t(a, shape):
        return torch.from_numpy(a.reshape(shape)).to(dev)

    valid_t = torch.from_numpy(valid).to(dev)

    def mask_mod(b, h, q_idx, kv_idx):
        return valid_t[kv_idx]

    bm = BlockMask.from_kv_blocks(t(part_n, (B, H, NB)), t(part_i, (B, H, NB, NB)), t(full_n, (B, H, NB)),
                                  t(full_i, (B, H, NB, NB)), BLOCK_SIZE=V, mask_mod=mask_mod)
    return bm, slots, flops


def run_flex(torch, args, masks, dt, dev_name, results):
    try:
        import numpy as np
        from torch.nn.attention.flex_attention import flex_attention
    except ImportError as e:
        log("flex_attention not available (%s): torch-flex skipped" % e)
        return
    flex = torch.compile(flex_attention, dynamic=False)
    for m in masks:
        meta = m["meta"]
        shape = {"name": meta["preset"], "tuple": tuple(meta[k] for k in (
            "batch", "heads", "head_dim", "frames", "height", "width", "text", "text_before"))}
        r = record("torch-flex", dev_name, shape, meta["mode"], args.dtype, meta["block"], meta["param"],
                   {"mask_dir": os.path.basename(m["path"]), "keep": meta.get("keep", 1.0),
                    "density": meta["density"]})
        try:
            B, H, D, N, Npad = meta["batch"], meta["heads"], meta["head_dim"], meta["tokens"], meta["padded_tokens"]
            bm, slots, flops = build_block_mask(torch, np, m, "cuda")
            r["flops"] = flops
            idx = torch.from_numpy(slots).cuda()
            inputs = []
            for _ in range(3):
                qkv = []
                for _ in range(3):
                    x = torch.randn(B, H, N, D, device="cuda", dtype=dt)
                    xb = torch.zeros(B, H, Npad, D, device="cuda", dtype=dt)
                    xb[:, :, idx] = x
                    qkv.append(xb)
                    del x
                inputs.append(tuple(qkv))
            opts = [None, {"BLOCK_M": min(64, meta["block_volume"]), "BLOCK_N": min(64, meta["block_volume"])}]
            err = None
            for ko in opts:
                try:
                    def fn(q, k, v, ko=ko):
                        return flex(q, k, v, block_mask=bm, kernel_options=ko) if ko else flex(q, k, v, block_mask=bm)
                    ms = time_fn(torch, fn, inputs, max(args.warmup, 2), args.runs)
                    r["kernel_options"] = ko
                    err = None
                    break
                except Exception as e:  # noqa: BLE001
                    if isinstance(e, torch.cuda.OutOfMemoryError):
                        raise
                    err = e
            if err is not None:
                raise err
            r["warmup"] = max(args.warmup, 2)
            stats(ms, r)
            log("%-12s %-14s %-4s %-18s density %.3f  %9.3f ms  %7.1f TFLOP/s" % (
                "torch-flex", shape["name"], meta["mode"], meta["param"], meta["density"], r["ms_median"],
                r["tflops_effective"]))
            if args.backward:
                bfn = None
                for ko in ([r["kernel_options"]] if r["kernel_options"] else []) + [
                        None, {"BLOCK_M1": 32, "BLOCK_N1": 64, "BLOCK_M2": 64, "BLOCK_N2": 32}]:
                    def bfn(q, k, v, ko=ko):
                        return flex(q, k, v, block_mask=bm, kernel_options=ko) if ko else flex(q, k, v, block_mask=bm)
                    r.pop("bwd_status", None)
                    time_backward(torch, bfn, inputs, max(args.warmup, 2), args.runs, r)
                    if "bwd_status" not in r:
                        r["bwd_kernel_options"] = ko
                        break
            del inputs, bm
        except Exception as e:  # noqa: BLE001
            r["status"] = status_of(torch, e)
            log("torch-flex   %-14s %s %s: %s" % (shape["name"], meta["mode"], meta["param"], r["status"]))
        torch.cuda.empty_cache()
        results.append(r)


# ----------------------------------------------------------------------- main

def find_masks(dirs):
    """Mask directories, one per (preset, mode, param, block): the same mask exported by several devices
    is kept once (backends build identical masks)."""
    seen, out = set(), []
    for d in dirs:
        for meta_path in sorted(glob.glob(os.path.join(d, "*", "meta.json"))):
            try:
                m = load_mask_dir(os.path.dirname(meta_path))
            except Exception as e:  # noqa: BLE001
                log("cannot read %s: %s" % (os.path.dirname(meta_path), e))
                continue
            meta = m["meta"]
            key = (meta["preset"], meta["mode"], meta["param"], tuple(meta["block"]), meta["batch"])
            if key not in seen:
                seen.add(key)
                out.append(m)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--masks", action="append", default=[], help="voxattn bench --export-mask DIR (repeatable)")
    ap.add_argument("--preset", action="append", default=[], help="dense baselines for a preset (repeatable)")
    ap.add_argument("--bench", action="append", default=[], help="voxattn bench JSON: its shapes get dense baselines")
    ap.add_argument("--json", help="output JSON file")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--dtype", choices=["bf16", "f16"], default="bf16")
    ap.add_argument("--skip", default="", help="comma list of cudnn,flash,flex to skip")
    ap.add_argument("--backward", action="store_true", help="also time each baseline's backward")
    args = ap.parse_args(argv)
    if args.runs < 20:
        log("--runs %d raised to 20" % args.runs)
        args.runs = 20
    args.skip = set(s for s in args.skip.split(",") if s)

    masks = find_masks(args.masks)
    for m in masks:
        try:
            dens = check_mask(m)
            log("mask %s: %s %s %s, %d masks, density %.4f" % (
                os.path.basename(m["path"]), m["meta"]["preset"], m["meta"]["mode"], m["meta"]["param"],
                m["meta"]["masks"], dens))
        except Exception as e:  # noqa: BLE001
            log("invalid mask: %s" % e)
            return 1
    shapes = {}
    for p in args.preset:
        if p not in PRESETS:
            log("unknown preset %s (known: %s)" % (p, ", ".join(PRESETS)))
            return 2
        shapes[(p,) + PRESETS[p]] = {"name": p, "tuple": PRESETS[p]}
    for path in args.bench:
        with open(path) as f:
            for r in json.load(f).get("results", []):
                t = tuple(r[k] for k in ("batch", "heads", "head_dim", "frames", "height", "width", "text",
                                         "text_before"))
                shapes[(r["preset"],) + t] = {"name": r["preset"], "tuple": t}
    for m in masks:
        t = tuple(m["meta"][k] for k in ("batch", "heads", "head_dim", "frames", "height", "width", "text",
                                         "text_before"))
        shapes[(m["meta"]["preset"],) + t] = {"name": m["meta"]["preset"], "tuple": t}

    meta = {"tool": "perf/baselines.py", "schema": 1,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "host": socket.gethostname(), "command": sys.argv, "devices": []}
    results = []
    torch = None
    why = None
    try:
        import torch  # noqa: F811
        if not torch.cuda.is_available():
            why = "PyTorch %s found but no CUDA GPU is available" % torch.__version__
    except ImportError:
        why = "PyTorch is not installed (pip install torch); no baselines measured"
    if why:
        log(why)
        meta["note"] = why
    else:
        dev_name = torch.cuda.get_device_name(0)
        cap = torch.cuda.get_device_capability(0)
        meta["torch_version"] = torch.__version__
        meta["devices"] = [{"id": "cuda:0", "backend": "torch", "name": dev_name,
                            "driver": "CUDA %s, cuDNN %s" % (torch.version.cuda, torch.backends.cudnn.version()),
                            "capability": "%d.%d" % cap}]
        dt = torch.bfloat16 if args.dtype == "bf16" else torch.float16
        if not shapes:
            log("nothing to do: give --masks, --preset or --bench")
        for s in shapes.values():
            run_dense(torch, args, s, dt, dev_name, results)
        if "flex" not in args.skip:
            run_flex(torch, args, masks, dt, dev_name, results)
        dense = {}
        for r in results:
            if r["mode"] == "dense" and r["status"] == "ok" and r["device"] == "torch-cudnn":
                dense[(r["preset"], r["batch"])] = r["ms_median"]
        for r in results:
            d = dense.get((r["preset"], r["batch"]))
            if r["status"] == "ok" and d:
                r["speedup_vs_dense"] = d / r["ms_median"]
    for r in results:
        if r["status"] != "ok":
            continue
        print("%-12s %-14s %-5s %-18s %7.4f %10.3f %9.1f %s" % (
            r["device"], r["preset"], r["mode"], r["param"] or "-", r["density"], r["ms_median"],
            r["tflops_effective"] or 0, "%.2fx" % r["speedup_vs_dense"] if r["speedup_vs_dense"] else "-"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=1)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
