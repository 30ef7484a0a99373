"""Library state shared by the Python API: the exception type, device
listing, and the cache of C contexts (one per (device, stream)), each with
its logger and the lock that serialises its use (the C API allows one thread
at a time per context)."""
from __future__ import annotations

import ctypes as C
import logging
import threading
from dataclasses import dataclass, field

from . import _capi as capi
from ._capi import lib

_log = logging.getLogger("voxattn")


class VoxError(RuntimeError):
    """A libvoxattn call failed. `status` is the vox_status (int),
    `status_name` its enum name, `log` the library's error line(s)."""

    def __init__(self, call: str, status: int, log: str = ""):
        self.call, self.status, self.log = call, status, log
        self.status_name = capi.status_name(status)
        text = f"{call}: {self.status_name} ({lib.vox_status_string(status).decode()})"
        super().__init__(f"{text}: {log}" if log else text)


class UnsupportedError(VoxError, NotImplementedError):
    """VOX_ERR_UNSUPPORTED: a valid request the device cannot do (for
    example the backward pass on a backend that has none yet)."""


VoxError.__module__ = UnsupportedError.__module__ = "voxattn"


def raise_status(call: str, status: int, log: str = "") -> None:
    if status:
        cls = UnsupportedError if status == capi.VOX_ERR_UNSUPPORTED else VoxError
        raise cls(call, status, log)


# ----------------------------------------------------------------- devices


@dataclass(frozen=True)
class Device:
    """One device of libvoxattn (vox_device_desc)."""
    id: str
    backend: str
    name: str
    vendor: str = field(repr=False)
    driver: str = field(repr=False)
    type: str
    memory_bytes: int = field(repr=False)
    caps: tuple = field(repr=False)
    subgroup_size: int = field(repr=False)
    shared_memory_bytes: int = field(repr=False)
    compute_units: int = field(repr=False)

    def __str__(self) -> str:
        return self.id


def _device(d: capi.DeviceDesc) -> Device:
    return Device(id=d.id.decode(), backend=d.backend_name.decode(), name=d.name.decode(),
                  vendor=d.vendor.decode(), driver=d.driver.decode(), type=capi.DEVICE_TYPES[d.type],
                  memory_bytes=d.memory_bytes, caps=tuple(n for b, n in capi.CAPS.items() if d.caps & b),
                  subgroup_size=d.subgroup_size, shared_memory_bytes=d.shared_memory_bytes,
                  compute_units=d.compute_units)


def devices() -> list:
    """Every device of every backend that loaded, best first."""
    n = C.c_int()
    raise_status("vox_device_count", lib.vox_device_count(C.byref(n)))
    out = []
    for i in range(n.value):
        d = capi.DeviceDesc()
        raise_status("vox_device_info", lib.vox_device_info(i, C.byref(d)))
        out.append(_device(d))
    return out


def backends() -> dict:
    """Per backend: compiled, available, device count and the reason text."""
    out = {}
    for kind, name in enumerate(capi.BACKENDS):
        b = capi.BackendDesc()
        raise_status("vox_backend_info", lib.vox_backend_info(kind, C.byref(b)))
        out[name] = {"compiled": bool(b.compiled), "available": bool(b.available),
                     "device_count": b.device_count, "reason": b.reason.decode()}
    return out


# ---------------------------------------------------------------- contexts


class Context:
    """A vox_context on one device and queue. Calls go through `call`, which
    holds the lock and turns a failing status into VoxError with the log
    lines the call produced (or, for the tensor calls of _calls.py: take the
    lock, begin(), call, check()). `descs` caches the vox_tensor structs of
    each call signature seen on this context (_calls.py), used under the lock."""

    def __init__(self, device_id: str, native: capi.NativeQueue | None = None):
        self.lock = threading.RLock()
        self.lines: list = []
        self.wraps: dict = {}
        self.descs: dict = {}
        self._logfn = capi.LOG_FN(self._on_log)  # kept alive with the context
        p = capi.ContextParams()
        lib.vox_context_defaults(C.byref(p))
        p.device_id = device_id.encode()
        p.log = self._logfn
        p.log_level = capi.LOG_WARN
        self._native = native
        if native is not None:
            p.native = C.pointer(native)
        h = C.c_void_p()
        self.handle = None
        self.call("vox_context_create", lib.vox_context_create, C.byref(p), C.byref(h))
        self.handle = h.value
        d = capi.DeviceDesc()
        lib.vox_context_device(self.handle, C.byref(d))
        self.device = _device(d)

    def _on_log(self, user, level, message) -> None:
        text = message.decode(errors="replace")
        if level == capi.LOG_ERROR:
            self.lines.append(text)
        else:
            _log.warning("%s", text)

    def call(self, name: str, fn, *args) -> int:
        with self.lock:
            self.lines = []
            return self.check(name, fn(*args))

    def begin(self) -> None:
        """Starts a tensor call (the caller holds self.lock): no log lines
        yet, and the wrapped-buffer cache trimmed before the call's first wrap."""
        self.lines = []
        if len(self.wraps) >= self.WRAP_CACHE:
            self._drop_wraps()

    def check(self, name: str, status: int) -> int:
        """Raises VoxError for a failing status with the lines its call logged."""
        if status:
            raise_status(name, status, "; ".join(self.lines))
        return status

    def wrap(self, ptr: int, nbytes: int) -> int:
        """A vox_buffer over caller memory (not owned), kept in self.wraps
        under (ptr, nbytes) for reuse: a wrapped cpu/CUDA/HIP buffer is only
        an address range, and torch's allocators hand the same ranges out
        again. The caller holds self.lock and has called begin() (the cache
        is emptied there, never between the wraps of one call, whose handles
        must stay alive)."""
        b = C.c_void_p()
        self.call("vox_buffer_wrap", lib.vox_buffer_wrap, self.handle, ptr, nbytes, C.byref(b))
        self.wraps[(ptr, nbytes)] = b.value
        return b.value

    WRAP_CACHE = 256

    def _drop_wraps(self) -> None:
        for b in self.wraps.values():
            lib.vox_buffer_destroy(b)
        self.wraps.clear()

    def __del__(self):
        if getattr(self, "handle", None) and lib is not None:
            self._drop_wraps()
            lib.vox_context_destroy(self.handle)
            self.handle = None


_contexts: dict = {}
_contexts_lock = threading.Lock()


def context(device_id: str, stream: int = 0, native_fn=None) -> Context:
    """The cached context for (device_id, stream); native_fn() gives the
    vox_native_queue to wrap when one must be created (None: the library's
    own queue)."""
    key = (device_id, stream)
    ctx = _contexts.get(key)
    if ctx is None:
        with _contexts_lock:
            ctx = _contexts.get(key)
            if ctx is None:
                ctx = Context(device_id, native_fn() if native_fn else None)
                _contexts[key] = ctx
    return ctx
