"""Beyond Linux: devices other than CUDA (mocked here), no Linux-only calls, decode workers under spawn."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import inception_score
from inception_score.cli import main
from inception_score.errors import DeviceError
from inception_score.run.plan import resolve_device, sums_device

HERE = Path(__file__).parent


def test_apple_mps_when_torch_has_it(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("mps") == torch.device("mps")
    assert resolve_device("auto") == torch.device("mps")  # no CUDA: the Apple GPU
    assert sums_device(torch.device("mps")) == torch.device("cpu")  # MPS has no float64: the sums stay on the CPU
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="device: got 'mps', but no Apple MPS device is available here"):
        resolve_device("mps")
    assert resolve_device("auto") == torch.device("cpu")


def test_intel_xpu_when_torch_has_it(monkeypatch) -> None:
    if not hasattr(torch, "xpu"):
        pytest.skip("this torch has no torch.xpu")
    monkeypatch.setattr(torch.xpu, "is_available", lambda: True)
    monkeypatch.setattr(torch.xpu, "device_count", lambda: 2)
    assert resolve_device("xpu:1") == torch.device("xpu", 1)
    assert sums_device(torch.device("xpu", 1)) == torch.device("cpu")
    with pytest.raises(DeviceError, match=r"only 2 xpu device\(s\) exist \(xpu:0..xpu:1\)"):
        resolve_device("xpu:2")


def test_a_missing_device_is_exit_5(png_folder: Path, capsys) -> None:
    if hasattr(torch, "xpu") and torch.xpu.is_available():
        pytest.skip("an XPU is present")
    assert main([str(png_folder), "--device", "xpu", "--splits", "2"]) == 5
    assert "no Intel XPU is available here; use --device cpu" in capsys.readouterr().err


def test_decode_workers_under_spawn(png_folder: Path, stand_in, tmp_path: Path) -> None:
    """macOS and Windows start worker processes with spawn: everything they receive must pickle."""
    one = inception_score.compute(png_folder, network=stand_in, splits=4, num_workers=0, batch_size=8, progress=False)
    out = tmp_path / "spawn.json"
    code = (
        "import sys, json, multiprocessing, torch\n"
        f"sys.path.insert(0, {str(HERE)!r})\n"
        "multiprocessing.set_start_method('spawn', force=True)\n"
        "import inception_score\n"
        "from conftest import StandInClassifier\n"
        "torch.set_num_threads(1)\n"
        f"r = inception_score.compute({str(png_folder)!r}, network=StandInClassifier(), splits=4, num_workers=2,\n"
        "                           batch_size=8, progress=False)\n"
        f"open({str(out)!r}, 'w').write(json.dumps(r.split_scores))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(out.read_text()) == one.split_scores
