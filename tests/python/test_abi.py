"""The ctypes structs of voxattn/_capi.py against include/voxattn.h: size and
every field offset, read from a small C program compiled here."""
import ctypes
import shutil
import subprocess
from pathlib import Path

import pytest

from voxattn import _capi as capi

HEADER_DIR = Path(__file__).resolve().parents[2] / "include"
STRUCTS = {"vox_device_desc": capi.DeviceDesc, "vox_backend_desc": capi.BackendDesc,
           "vox_native_queue": capi.NativeQueue, "vox_context_params": capi.ContextParams,
           "vox_tensor": capi.Tensor, "vox_plan_params": capi.PlanParams, "vox_plan_stats": capi.PlanStats,
           "vox_eval_result": capi.EvalResult}


def test_struct_layouts_match_the_header(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc or not (HEADER_DIR / "voxattn.h").exists():
        pytest.skip("no C compiler or no include/voxattn.h")
    lines = ['#include <stdio.h>', '#include <stddef.h>', '#include "voxattn.h"', 'int main(void) {']
    for cname, py in STRUCTS.items():
        lines.append(f'printf("{cname} size %zu\\n", sizeof({cname}));')
        for field, _ in py._fields_:
            lines.append(f'printf("{cname} {field} %zu\\n", offsetof({cname}, {field}));')
    lines.append("return 0; }")
    src, exe = tmp_path / "abi.c", tmp_path / "abi"
    src.write_text("\n".join(lines))
    subprocess.run([cc, "-std=c11", "-I", str(HEADER_DIR), str(src), "-o", str(exe)], check=True)
    want = {}
    for line in subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.splitlines():
        s, f, v = line.split()
        want[(s, f)] = int(v)
    for cname, py in STRUCTS.items():
        assert ctypes.sizeof(py) == want[(cname, "size")], cname
        for field, _ in py._fields_:
            assert getattr(py, field).offset == want[(cname, field)], f"{cname}.{field}"
