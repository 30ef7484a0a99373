"""The Python API around the C one: devices, plan parameters and defaults,
stats and mask export, and errors that carry the library's status and log line."""
import numpy as np
import pytest
import torch

import voxattn
from conftest import qkv


def test_devices_lists_the_cpu_reference():
    devs = voxattn.devices()
    assert devs and any(d.id == "cpu" and d.type == "reference" for d in devs)
    assert voxattn.backends()["cpu"]["available"]


def test_defaults_are_the_c_defaults():
    d = voxattn.defaults()
    assert (d["block_t"], d["kv_tau"], d["query_keep"], d["kv_min_blocks"]) == (4, 0.9, 1.0, 4)
    p = voxattn.Plan(grid=(2, 4, 4), mask="bsa")
    assert p.params["kv_tau"] == 0.9 and p.params["window_t"] == 2


def test_stats_and_export_are_python_values():
    plan = voxattn.Plan(grid=(2, 8, 8), text=8, block=(1, 4, 4), mask="bsa", kv_rule="topk", kv_topk=2,
                        kv_min_blocks=1)
    q, k, v = qkv((1, 136, 2, 16))
    plan.build(q, k)
    s = plan.stats()
    assert s["built"] is True and s["n_blocks"] == 9 and s["block_volume"] == 16 and 0 < s["density"] < 1
    e = plan.export_mask(1)
    assert e["row_ptr"].dtype == np.int32 and len(e["row_ptr"]) == 10 and e["row_ptr"][-1] == len(e["kv_block"])
    assert set(np.unique(e["keep"])) <= {-1, 1}
    assert plan.token_slots().shape == (136,)
    hc = plan.head_classes()
    assert hc["classes"] == ["dense", "dense"] and hc["err_spatial"].shape == (2,)
    assert plan.generation == 1
    # builds are not timed (timing would make them wait for the device)
    with pytest.raises(voxattn.VoxError, match="not timed") as ei:
        plan.last_build_ms()
    assert ei.value.status_name == "VOX_ERR_INVALID_STATE"


def test_bad_python_arguments_raise_value_error():
    with pytest.raises(ValueError, match="mask"):
        voxattn.Plan(grid=(2, 4, 4), mask="sparse")
    with pytest.raises(ValueError, match="grid"):
        voxattn.Plan(grid=(2, 4))
    plan = voxattn.Plan(grid=(2, 4, 4), block=(1, 4, 4))
    with pytest.raises(ValueError, match="layout"):
        voxattn.attention(*qkv((1, 32, 1, 16)), plan, layout="nbhd")
    with pytest.raises(ValueError, match="dtype"):
        voxattn.attention(*qkv((1, 32, 1, 16), dtype=torch.float64), plan)
    with pytest.raises(TypeError):
        voxattn.attention(*qkv((1, 32, 1, 16)), object())


def test_library_errors_carry_status_and_log_line():
    q, k, v = qkv((1, 32, 1, 16))
    with pytest.raises(voxattn.VoxError, match="block volume 27 must be a power of two") as e:
        voxattn.attention(q, k, v, voxattn.Plan(grid=(2, 4, 4), block=(3, 3, 3)))
    assert e.value.status == -1 and e.value.status_name == "VOX_ERR_INVALID_ARGUMENT"
    assert "block volume" in e.value.log
    # a BSA plan used before its build
    with pytest.raises(voxattn.VoxError) as e:
        voxattn.attention(q, k, v, voxattn.Plan(grid=(2, 4, 4), block=(1, 4, 4), mask="bsa"))
    assert e.value.status_name == "VOX_ERR_INVALID_STATE" and e.value.log
    # tokens that do not match the grid
    plan = voxattn.Plan(grid=(2, 4, 4), block=(1, 4, 4))
    with pytest.raises(voxattn.VoxError, match=r"q: shape \[1,1,40,16\], plan wants \[1,1,32,16\]") as e:
        voxattn.attention(*qkv((1, 40, 1, 16)), plan)
    assert e.value.status_name == "VOX_ERR_INVALID_ARGUMENT"
    # q, k, v of different dtypes
    plan = voxattn.Plan(grid=(2, 4, 4), block=(1, 4, 4))
    with pytest.raises(voxattn.VoxError, match="dtype"):
        voxattn.attention(q, k.half(), v, plan)


def test_plan_rebuilt_before_backward_is_refused():
    plan = voxattn.Plan(grid=(2, 8, 8), block=(1, 4, 4), mask="bsa", kv_rule="topk", kv_topk=2, kv_min_blocks=1)
    q, k, v = qkv((1, 128, 1, 16), requires_grad=True)
    plan.build(q.detach(), k.detach())
    out = voxattn.attention(q, k, v, plan)
    plan.build(q.detach() * 2, k.detach())
    with pytest.raises(RuntimeError, match="built again"):
        out.sum().backward()


def test_zero_copy_strided_views():
    """q, k, v as views of one packed [B, N, 3, H, D] tensor give the same result as copies."""
    plan = voxattn.Plan(grid=(2, 4, 4), block=(1, 4, 4))
    qkv_packed = torch.randn(1, 32, 3, 2, 16)
    q, k, v = qkv_packed.unbind(2)
    assert not q.is_contiguous()
    a = voxattn.attention(q, k, v, plan)
    b = voxattn.attention(q.contiguous(), k.contiguous(), v.contiguous(), plan)
    assert torch.equal(a, b)


def test_many_calls_recycle_wrapped_buffers():
    """More distinct tensors than the context's cache of wrapped buffers
    (it is emptied between calls, never inside one)."""
    plan = voxattn.Plan(grid=(1, 4, 4), block=(1, 4, 4))
    keep = []
    for i in range(120):  # 5 wrapped tensors per call, all alive: 600 > the cache's 256
        q, k, v = qkv((1, 16, 1, 16), seed=i, requires_grad=True)
        out = voxattn.attention(q, k, v, plan)
        out.backward(torch.ones_like(out))
        keep.append((q, k, v, out))
        want = torch.softmax((q.double()[0, :, 0] @ k.double()[0, :, 0].T) * 0.25, -1) @ v.double()[0, :, 0]
        torch.testing.assert_close(out[0, :, 0].double(), want, atol=2e-6, rtol=1e-5)


def test_unsupported_status_is_its_own_exception():
    """VOX_ERR_UNSUPPORTED (e.g. a backward on a backend without one) raises
    UnsupportedError, a VoxError and a NotImplementedError."""
    from voxattn._runtime import raise_status
    with pytest.raises(voxattn.UnsupportedError) as e:
        raise_status("vox_attention_backward", -4, "opencl: no attention_backward")
    assert isinstance(e.value, NotImplementedError) and isinstance(e.value, voxattn.VoxError)
    assert e.value.status_name == "VOX_ERR_UNSUPPORTED" and "no attention_backward" in str(e.value)


def test_evaluate_dense_is_exact():
    plan = voxattn.Plan(grid=(2, 4, 4), block=(1, 4, 4))
    q, k, v = qkv((1, 32, 2, 16))
    out = voxattn.attention(q, k, v, plan)
    r = plan.evaluate(q, k, v, out, rows_per_head=8)
    assert r["recall"] == pytest.approx(1.0) and r["rel_error"] < 1e-12 and r["rows"] > 0
