"""Plan: the Python face of vox_plan. It holds the plan parameters (every
field of vox_plan_params, C defaults where not given; batch, heads, head_dim
and dtype may be left to the first tensors) and creates the C plan on the
context of the tensors it first sees. Plans are registered under an integer
handle so that the torch ops (ops.py) can name them in their schemas."""
from __future__ import annotations

import ctypes as C
import itertools
import threading
import weakref

import numpy as np

from . import _capi as capi
from ._capi import lib
from ._runtime import Context, VoxError

_DTYPE_NAMES = {"f32": "f32", "float32": "f32", "f16": "f16", "float16": "f16", "half": "f16",
                "bf16": "bf16", "bfloat16": "bf16"}


def _dtype_name(dtype) -> str:
    name = str(dtype).replace("torch.", "")
    if name not in _DTYPE_NAMES:
        raise ValueError(f"voxattn: dtype {dtype!r} is not one of f32, f16, bf16")
    return _DTYPE_NAMES[name]


def _enum(table: dict, value, what: str) -> int:
    if isinstance(value, str) and value.lower() in table:
        return table[value.lower()]
    raise ValueError(f"voxattn: {what} {value!r} is not one of {', '.join(table)}")


def _triple(value, what: str) -> tuple:
    if isinstance(value, int):
        return (value, value, value)
    t = tuple(int(x) for x in value)
    if len(t) != 3:
        raise ValueError(f"voxattn: {what} needs 3 values (t, h, w), got {value!r}")
    return t


def defaults() -> dict:
    """The C defaults (vox_plan_defaults) as a dict of vox_plan_params fields."""
    p = capi.PlanParams()
    lib.vox_plan_defaults(C.byref(p))
    return {name: getattr(p, name) for name, _ in capi.PlanParams._fields_
            if not name.startswith("custom_")}


_registry: dict = {}  # handle -> weakref(Plan)
_handles = itertools.count(1)
_registry_lock = threading.Lock()


def lookup(handle: int) -> "Plan":
    ref = _registry.get(int(handle))
    plan = ref() if ref else None
    if plan is None:
        raise ValueError(f"voxattn: plan handle {handle} names no live Plan")
    return plan


class _CPlan:
    """One vox_plan on one context."""

    def __init__(self, ctx: Context, params: capi.PlanParams):
        self.ctx = ctx
        h = C.c_void_p()
        self.handle = None
        ctx.call("vox_plan_create", lib.vox_plan_create, ctx.handle, C.byref(params), C.byref(h))
        self.handle = h.value
        self.params = params
        self.built = False

    def __del__(self):
        if getattr(self, "handle", None) and lib is not None:
            lib.vox_plan_destroy(self.handle)
            self.handle = None


class Plan:
    """A block-sparse attention plan (vox_plan_params; None = C default).

    grid: latent (frames, height, width); text: global (text) tokens and
    text_position "after" | "before"; block: (t, h, w) block shape;
    mask: "dense" | "custom" | "svg" | "bsa". batch, heads, head_dim and
    dtype default to the first tensors the plan sees. CUSTOM masks take
    custom_row_ptr / custom_kv_block (int32 arrays, block CSR) and
    custom_masks (1 or batch*heads; inferred from the row_ptr length).
    device: optional torch device / "cpu" / "cuda:0" where the plan's state
    tensor lives (defaults to cpu; only an ordering token, see docs/python.md).
    """

    def __init__(self, grid, *, heads=None, head_dim=None, batch=None, text=0, text_position="after",
                 block=None, dtype=None, scale=None, mask="dense",
                 custom_row_ptr=None, custom_kv_block=None, custom_masks=None,
                 svg_sample_rows=None, svg_frame_blocks=None, svg_space_blocks=None,
                 svg_first_frame_sink=None, svg_dense_above=None,
                 kv_rule=None, kv_tau=None, kv_topk=None, kv_z=None, kv_min_blocks=None, kv_max_blocks=None,
                 query_keep=None, window=None, seed=None, deterministic_backward=None, device=None):
        p = capi.PlanParams()
        lib.vox_plan_defaults(C.byref(p))
        p.frames, p.height, p.width = _triple(grid, "grid")
        p.text_tokens = int(text)
        p.text_position = _enum(capi.TEXT_POSITIONS, text_position, "text_position")
        if block is not None:
            p.block_t, p.block_h, p.block_w = _triple(block, "block")
        if scale is not None:
            p.scale = float(scale)
        p.mask_mode = _enum(capi.MASK_MODES, mask, "mask")
        if kv_rule is not None:
            p.kv_rule = _enum(capi.KV_RULES, kv_rule, "kv_rule")
        if window is not None:
            p.window_t, p.window_h, p.window_w = _triple(window, "window")
        for name, value, conv in (
                ("svg_sample_rows", svg_sample_rows, int), ("svg_frame_blocks", svg_frame_blocks, int),
                ("svg_space_blocks", svg_space_blocks, int), ("svg_first_frame_sink", svg_first_frame_sink, int),
                ("svg_dense_above", svg_dense_above, float), ("kv_tau", kv_tau, float),
                ("kv_topk", kv_topk, int), ("kv_z", kv_z, float), ("kv_min_blocks", kv_min_blocks, int),
                ("kv_max_blocks", kv_max_blocks, int),
                ("query_keep", query_keep, float), ("seed", seed, int),
                ("deterministic_backward", deterministic_backward, int)):
            if value is not None:
                setattr(p, name, conv(value))
        self._fixed = {"batch": batch, "heads": heads, "head_dim": head_dim,
                       "dtype": None if dtype is None else _dtype_name(dtype)}
        self._custom = None
        if custom_row_ptr is not None or custom_kv_block is not None:
            rp = np.ascontiguousarray(custom_row_ptr if custom_row_ptr is not None else [], dtype=np.int32)
            kv = np.ascontiguousarray(custom_kv_block if custom_kv_block is not None else [], dtype=np.int32)
            self._custom = (rp, kv, custom_masks)
        self._params = p
        self._cplan = None
        self.handle = next(_handles)
        with _registry_lock:
            _registry[self.handle] = weakref.ref(self)
        weakref.finalize(self, _registry.pop, self.handle, None)
        try:  # created here, not inside a traced call (torch is optional)
            import torch
            self._state = torch.zeros((), dtype=torch.int64, device=device or "cpu")
        except ImportError:
            self._state = None

    # ------------------------------------------------------------ params

    @property
    def params(self) -> dict:
        """The plan parameters as they are (C defaults filled in)."""
        d = {name: getattr(self._params, name) for name, _ in capi.PlanParams._fields_
             if not name.startswith("custom_")}
        d.update({k: v for k, v in self._fixed.items() if v is not None})
        return d

    @property
    def tokens(self) -> int:
        p = self._params
        return p.frames * p.height * p.width + p.text_tokens

    @property
    def needs_build(self) -> bool:
        """SVG and BSA masks, and query pruning, come from plan.build(q, k, v)."""
        p = self._params
        return p.mask_mode in (capi.MASK_MODES["svg"], capi.MASK_MODES["bsa"]) or p.query_keep < 1.0

    def _c_params(self, batch: int, heads: int, head_dim: int, dtype: str) -> capi.PlanParams:
        p = capi.PlanParams.from_buffer_copy(self._params)
        f = self._fixed
        p.batch = batch if f["batch"] is None else int(f["batch"])
        p.heads = heads if f["heads"] is None else int(f["heads"])
        p.head_dim = head_dim if f["head_dim"] is None else int(f["head_dim"])
        p.dtype = capi.DTYPES[dtype if f["dtype"] is None else f["dtype"]]
        if self._custom is not None:
            rp, kv, masks = self._custom
            p.custom_row_ptr = rp.ctypes.data_as(C.POINTER(C.c_int32))
            p.custom_kv_block = kv.ctypes.data_as(C.POINTER(C.c_int32))
            p.custom_masks = int(masks) if masks is not None else self._infer_custom_masks(p, len(rp))
        return p

    @staticmethod
    def _infer_custom_masks(p: capi.PlanParams, n_row_ptr: int) -> int:
        """custom_masks from the row_ptr length (masks * n_blocks + 1)."""
        nb = -(-p.frames // p.block_t) * -(-p.height // p.block_h) * -(-p.width // p.block_w)
        nb += -(-p.text_tokens // (p.block_t * p.block_h * p.block_w))
        return max(1, (n_row_ptr - 1) // nb) if nb else 1

    # ----------------------------------------------------- C plan binding

    def _bind(self, ctx: Context, shape: tuple, dtype: str, building: bool) -> _CPlan:
        """The C plan for this context: created on first use, re-created on
        another context only where that loses nothing (a build starts over,
        and DENSE/CUSTOM masks without pruning are static)."""
        cp = self._cplan
        if cp is not None and cp.ctx is ctx:
            return cp
        if cp is not None and not building and self.needs_build and cp.built:
            raise ValueError(
                f"voxattn: plan {self.handle} was built on {cp.ctx.device.id} (stream of that context); "
                "this call runs on another device or stream: call plan.build on it first")
        batch, heads, _, head_dim = shape
        cp = _CPlan(ctx, self._c_params(batch, heads, head_dim, dtype))
        self._cplan = cp
        return cp

    def _require(self) -> _CPlan:
        if self._cplan is None:
            raise ValueError("voxattn: the plan has not run yet (no C plan): call plan.build or attention first")
        return self._cplan

    # ------------------------------------------------------- torch entry

    def build(self, q, k, v=None, *, layout: str = "bnhd") -> None:
        """Builds this step's masks from q, k (and v for SVG) on their device
        and the current stream: torch op voxattn::build (mutates the plan)."""
        from . import ops
        ops.build(self, q, k, v, layout=layout)

    def state(self):
        """The plan's state tensor: an int64 build counter that the torch ops
        take so that builds and attention calls stay ordered (docs/python.md)."""
        if self._state is None:
            raise ImportError("voxattn: torch is needed for tensors")
        return self._state

    @property
    def generation(self) -> int:
        """How many times the masks were built."""
        return 0 if self._state is None else int(self._state)

    # ------------------------------------------------------ inspection

    def stats(self) -> dict:
        """vox_plan_stats as a dict."""
        cp = self._require()
        s = capi.PlanStats()
        cp.ctx.call("vox_plan_stats_get", lib.vox_plan_stats_get, cp.handle, C.byref(s))
        d = {name: getattr(s, name) for name, _ in capi.PlanStats._fields_}
        d["built"] = bool(d["built"])
        return d

    def last_build_ms(self) -> float:
        """The last build's device time in ms. Builds are timed only on contexts created with
        time_builds (the C benchmarks); these contexts never time them, so that a build never
        waits for the device: this raises VoxError (VOX_ERR_INVALID_STATE)."""
        cp = self._require()
        ms = C.c_double()
        cp.ctx.call("vox_plan_last_build_ms", lib.vox_plan_last_build_ms, cp.handle, C.byref(ms))
        return ms.value

    def head_classes(self) -> dict:
        """Per (batch, head) m = b*heads + h: SVG class names and both errors."""
        cp = self._require()
        n = cp.params.batch * cp.params.heads
        cls = np.zeros(n, dtype=np.int32)
        es, et = np.zeros(n), np.zeros(n)
        cp.ctx.call("vox_plan_head_classes", lib.vox_plan_head_classes, cp.handle, cls.ctypes.data,
                    es.ctypes.data, et.ctypes.data)
        return {"classes": [capi.HEAD_CLASSES[c] for c in cls], "err_spatial": es, "err_temporal": et}

    def export_mask(self, m: int = 0) -> dict:
        """Mask m (= b*heads + h) as block CSR: row_ptr (n_blocks+1), kv_block
        (nnz) and keep (one int8 per block-layout slot: 1 kept query, 0 pruned,
        -1 padding), all NumPy arrays."""
        cp = self._require()
        st = self.stats()
        nb, vol = st["n_blocks"], st["block_volume"]
        row_ptr = np.zeros(nb + 1, dtype=np.int32)
        keep = np.zeros(nb * vol, dtype=np.int8)
        nnz = C.c_int64()
        # room for the plan's density (over all heads) plus a margin; a head
        # denser than that gets VOX_ERR_BUFFER_TOO_SMALL and a larger array
        cap = max(nb, int(st["density"] * nb * nb * 1.25) + nb)
        while True:
            kv = np.zeros(cap, dtype=np.int32)
            try:
                cp.ctx.call("vox_plan_export_mask", lib.vox_plan_export_mask, cp.handle, int(m),
                            row_ptr.ctypes.data, kv.ctypes.data, cap, C.byref(nnz), keep.ctypes.data)
                break
            except VoxError as e:
                if e.status != -9 or cap >= nb * nb:
                    raise
                cap = min(cap * 4, nb * nb)
        return {"row_ptr": row_ptr, "kv_block": kv[:nnz.value].copy(), "keep": keep}

    def token_slots(self) -> np.ndarray:
        """Block-layout slot of each token (caller's token order)."""
        cp = self._require()
        out = np.zeros(self.tokens, dtype=np.int32)
        cp.ctx.call("vox_plan_token_slots", lib.vox_plan_token_slots, cp.handle, out.ctypes.data)
        return out

    def token_mask(self, m: int = 0) -> tuple:
        """Mask m at token level, for references on small shapes: allowed
        (bool [N, N]: query token i may attend key token j) and keep (int8
        [N]: 1 kept, 0 pruned query row). N x N host memory: tests only."""
        e = self.export_mask(m)
        vol = self.stats()["block_volume"]
        slots = self.token_slots()
        blk = slots // vol
        nb = len(e["row_ptr"]) - 1
        block_allowed = np.zeros((nb, nb), dtype=bool)
        for i in range(nb):
            block_allowed[i, e["kv_block"][e["row_ptr"][i]:e["row_ptr"][i + 1]]] = True
        return block_allowed[np.ix_(blk, blk)], e["keep"][slots]

    def evaluate(self, q, k, v, out, rows_per_head: int = 32, *, layout: str = "bnhd") -> dict:
        """vox_plan_evaluate: recall and error of `out` against dense attention
        on sampled rows (fp64 on the host)."""
        from . import ops
        return ops.evaluate(self, q, k, v, out, rows_per_head, layout=layout)

    def __repr__(self) -> str:
        p = self._params
        mode = [k for k, v in capi.MASK_MODES.items() if v == p.mask_mode][0]
        return (f"Plan(grid=({p.frames}, {p.height}, {p.width}), text={p.text_tokens}, "
                f"block=({p.block_t}, {p.block_h}, {p.block_w}), mask={mode!r}, handle={self.handle})")
