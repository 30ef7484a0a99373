"""ctypes mirror of include/voxattn.h: the library loader, the public structs,
enums and function prototypes. Nothing here knows about torch; every struct
layout is checked against the C header by tests/python/test_abi.py."""
from __future__ import annotations

import ctypes as C
import os
from pathlib import Path

# ------------------------------------------------------------------ enums

STATUS_NAMES = {
    0: "VOX_OK",
    -1: "VOX_ERR_INVALID_ARGUMENT",
    -2: "VOX_ERR_OUT_OF_MEMORY",
    -3: "VOX_ERR_DEVICE_OUT_OF_MEMORY",
    -4: "VOX_ERR_UNSUPPORTED",
    -5: "VOX_ERR_BACKEND_UNAVAILABLE",
    -6: "VOX_ERR_BACKEND",
    -7: "VOX_ERR_COMPILE",
    -8: "VOX_ERR_INVALID_STATE",
    -9: "VOX_ERR_BUFFER_TOO_SMALL",
}
VOX_ERR_UNSUPPORTED = -4

DTYPES = {"f32": 0, "f16": 1, "bf16": 2}
LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG = 0, 1, 2, 3
BACKENDS = ["cpu", "cuda", "hip", "opencl", "vulkan"]  # vox_backend_kind order
BACKEND_CUDA, BACKEND_HIP = 1, 2
DEVICE_TYPES = ["reference", "gpu", "cpu", "other"]
CAPS = {1 << 0: "f16", 1 << 1: "bf16", 1 << 2: "matrix_units", 1 << 3: "timer"}
MASK_MODES = {"dense": 0, "custom": 1, "svg": 2, "bsa": 3}
TEXT_POSITIONS = {"after": 0, "before": 1}
KV_RULES = {"cumulative": 0, "topk": 1, "stat": 2}
HEAD_CLASSES = ["dense", "spatial", "temporal"]

# ---------------------------------------------------------------- structs


class DeviceDesc(C.Structure):
    _fields_ = [
        ("backend", C.c_int),
        ("backend_name", C.c_char_p),
        ("backend_index", C.c_int),
        ("id", C.c_char * 32),
        ("name", C.c_char * 128),
        ("vendor", C.c_char * 64),
        ("driver", C.c_char * 64),
        ("type", C.c_int),
        ("memory_bytes", C.c_uint64),
        ("caps", C.c_uint32),
        ("subgroup_size", C.c_uint32),
        ("shared_memory_bytes", C.c_uint64),
        ("compute_units", C.c_uint32),
    ]


class BackendDesc(C.Structure):
    _fields_ = [
        ("backend", C.c_int),
        ("name", C.c_char_p),
        ("compiled", C.c_int),
        ("available", C.c_int),
        ("device_count", C.c_int),
        ("reason", C.c_char * 256),
    ]


class NativeQueue(C.Structure):
    _fields_ = [
        ("backend", C.c_int),
        ("queue", C.c_void_p),
        ("context", C.c_void_p),
        ("device", C.c_void_p),
        ("instance", C.c_void_p),
        ("get_proc_addr", C.c_void_p),
        ("queue_family", C.c_uint32),
    ]


LOG_FN = C.CFUNCTYPE(None, C.c_void_p, C.c_int, C.c_char_p)


class ContextParams(C.Structure):
    _fields_ = [
        ("device_index", C.c_int),
        ("device_id", C.c_char_p),
        ("log", LOG_FN),
        ("log_user", C.c_void_p),
        ("log_level", C.c_int),
        ("native", C.POINTER(NativeQueue)),
        ("time_builds", C.c_int),
    ]


class Tensor(C.Structure):
    _fields_ = [
        ("buffer", C.c_void_p),
        ("offset", C.c_size_t),
        ("dtype", C.c_int),
        ("batch", C.c_int64),
        ("heads", C.c_int64),
        ("tokens", C.c_int64),
        ("head_dim", C.c_int64),
        ("stride_batch", C.c_int64),
        ("stride_head", C.c_int64),
        ("stride_token", C.c_int64),
    ]


class PlanParams(C.Structure):
    _fields_ = [
        ("batch", C.c_int64), ("heads", C.c_int64), ("head_dim", C.c_int64),
        ("frames", C.c_int64), ("height", C.c_int64), ("width", C.c_int64),
        ("text_tokens", C.c_int64),
        ("text_position", C.c_int),
        ("block_t", C.c_int), ("block_h", C.c_int), ("block_w", C.c_int),
        ("dtype", C.c_int),
        ("scale", C.c_double),
        ("mask_mode", C.c_int),
        ("custom_masks", C.c_int64),
        ("custom_row_ptr", C.POINTER(C.c_int32)),
        ("custom_kv_block", C.POINTER(C.c_int32)),
        ("svg_sample_rows", C.c_int),
        ("svg_frame_blocks", C.c_int),
        ("svg_space_blocks", C.c_int),
        ("svg_first_frame_sink", C.c_int),
        ("svg_dense_above", C.c_double),
        ("kv_rule", C.c_int),
        ("kv_tau", C.c_double),
        ("kv_topk", C.c_int),
        ("kv_z", C.c_double),
        ("kv_min_blocks", C.c_int),
        ("kv_max_blocks", C.c_int),
        ("query_keep", C.c_double),
        ("window_t", C.c_int), ("window_h", C.c_int), ("window_w", C.c_int),
        ("seed", C.c_uint64),
        ("deterministic_backward", C.c_int),
    ]


class PlanStats(C.Structure):
    _fields_ = [
        ("tokens", C.c_int64), ("video_tokens", C.c_int64), ("global_tokens", C.c_int64),
        ("n_blocks", C.c_int64), ("n_video_blocks", C.c_int64), ("n_global_blocks", C.c_int64),
        ("grid_blocks_t", C.c_int64), ("grid_blocks_h", C.c_int64), ("grid_blocks_w", C.c_int64),
        ("block_volume", C.c_int),
        ("padded_fraction", C.c_double),
        ("built", C.c_int),
        ("density", C.c_double),
        ("kept_query_fraction", C.c_double),
        ("flops_dense", C.c_double),
        ("flops", C.c_double),
        ("n_heads_total", C.c_int64),
        ("n_spatial", C.c_int64), ("n_temporal", C.c_int64), ("n_dense", C.c_int64),
        ("device_bytes", C.c_int64),
    ]


class EvalResult(C.Structure):
    _fields_ = [("recall", C.c_double), ("rel_error", C.c_double), ("rows", C.c_int64)]


# ------------------------------------------------------------------ loader

_P = C.c_void_p
_TP = C.c_void_p  # const vox_tensor *: an address (the struct arrays of _calls.py), or None
_PROTOTYPES = {
    "vox_status_string": (C.c_char_p, [C.c_int]),
    "vox_device_count": (C.c_int, [C.POINTER(C.c_int)]),
    "vox_device_info": (C.c_int, [C.c_int, C.POINTER(DeviceDesc)]),
    "vox_backend_info": (C.c_int, [C.c_int, C.POINTER(BackendDesc)]),
    "vox_context_defaults": (C.c_int, [C.POINTER(ContextParams)]),
    "vox_context_create": (C.c_int, [C.POINTER(ContextParams), C.POINTER(_P)]),
    "vox_context_destroy": (None, [_P]),
    "vox_context_device": (C.c_int, [_P, C.POINTER(DeviceDesc)]),
    "vox_context_finish": (C.c_int, [_P]),
    "vox_buffer_wrap": (C.c_int, [_P, C.c_uint64, C.c_size_t, C.POINTER(_P)]),
    "vox_buffer_destroy": (None, [_P]),
    "vox_plan_defaults": (C.c_int, [C.POINTER(PlanParams)]),
    "vox_plan_create": (C.c_int, [_P, C.POINTER(PlanParams), C.POINTER(_P)]),
    "vox_plan_destroy": (None, [_P]),
    "vox_plan_build": (C.c_int, [_P, _TP, _TP, _TP]),
    "vox_attention_forward": (C.c_int, [_P, _TP, _TP, _TP, _TP, _TP]),
    "vox_attention_backward": (C.c_int, [_P, _TP, _TP, _TP, _TP, _TP, _TP, _TP, _TP, _TP]),
    "vox_attention_merge": (C.c_int, [_P, C.c_int, _TP, _TP, _TP, _TP]),
    "vox_plan_stats_get": (C.c_int, [_P, C.POINTER(PlanStats)]),
    "vox_plan_head_classes": (C.c_int, [_P, _P, _P, _P]),
    "vox_plan_export_mask": (C.c_int, [_P, C.c_int64, _P, _P, C.c_int64, C.POINTER(C.c_int64), _P]),
    "vox_plan_token_slots": (C.c_int, [_P, _P]),
    "vox_plan_evaluate": (C.c_int, [_P, _TP, _TP, _TP, _TP, C.c_int, C.POINTER(EvalResult)]),
    "vox_plan_last_build_ms": (C.c_int, [_P, C.POINTER(C.c_double)]),
}


def library_path() -> Path:
    """The libvoxattn this package uses: $VOXATTN_LIBRARY (a build tree's
    library, as ./run-tests sets it), else the one the wheel carries."""
    env = os.environ.get("VOXATTN_LIBRARY")
    if env:
        return Path(env)
    return Path(__file__).with_name("libvoxattn.so")


def _load() -> C.CDLL:
    path = library_path()
    if not path.exists():
        raise ImportError(
            f"voxattn: no library at {path} (install the package with `pip install .`, "
            "or set VOXATTN_LIBRARY to a built libvoxattn.so)")
    lib = C.CDLL(str(path))
    for name, (restype, argtypes) in _PROTOTYPES.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    return lib


lib = _load()


def status_name(status: int) -> str:
    return STATUS_NAMES.get(status, f"status {status}")
