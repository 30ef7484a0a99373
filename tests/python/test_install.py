"""The installed wheel (pip install .): .ci/run sets VOXATTN_EXPECT_INSTALLED=1
after installing; elsewhere these tests skip."""
import os
from pathlib import Path

import pytest

import voxattn

pytestmark = pytest.mark.skipif(not os.environ.get("VOXATTN_EXPECT_INSTALLED"),
                                reason="VOXATTN_EXPECT_INSTALLED is not set (not the installed-package run)")


def test_package_is_the_installed_one_and_carries_its_library():
    pkg = Path(voxattn.__file__).parent
    assert "site-packages" in str(pkg), pkg
    assert voxattn.library_path() == pkg / "libvoxattn.so" and voxattn.library_path().is_file()


def test_devices_of_every_backend_this_machine_runs():
    ids = [d.id for d in voxattn.devices()]
    assert "cpu" in ids
    for name, b in voxattn.backends().items():
        if b["available"]:
            assert any(i.split(":")[0] == name for i in ids), (name, ids)
    # the wheel carries every backend the build machine could build
    assert all(voxattn.backends()[b]["compiled"] for b in ("opencl", "vulkan")), voxattn.backends()


def test_every_module_of_the_source_tree_is_installed():
    """python/meson.build lists the package's modules: one left out installs a broken package."""
    src = Path(__file__).resolve().parents[2] / "python" / "voxattn"
    installed = Path(voxattn.__file__).parent
    missing = [p.name for p in src.glob("*.py") if not (installed / p.name).is_file()]
    assert not missing, f"modules not installed by python/meson.build: {missing}"
