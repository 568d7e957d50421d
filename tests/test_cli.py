"""The command line as a user meets it: one command, a number, and one clear line when it fails."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import inception_score
from inception_score.cli import main

from .conftest import make_images, write_images


@pytest.fixture
def small_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "samples"
    write_images(folder, make_images(6, (32, 32), seed=21))
    return folder


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_on_a_folder_equals_the_api(small_folder: Path, checkpoint_path: Path, capsys) -> None:
    code, out, err = run_cli([small_folder, "--weights", checkpoint_path, "--splits", "2", "--json"], capsys)
    assert code == 0, err
    payload = json.loads(out)
    api = inception_score.compute(small_folder, weights=str(checkpoint_path), splits=2, progress=False)
    assert payload["inception_score_mean"] == pytest.approx(api.mean, rel=1e-12)
    assert payload["num_images"] == 6 and payload["splits"] == 2 and payload["protocol"] == "torch-fidelity"
    assert len(payload["weights_sha256"]) == 64 and payload["package_version"] == inception_score.__version__
    assert "img/s" in err  # the progress bar lives on stderr


def test_the_seed_flag_reaches_the_bootstrap(small_folder: Path, stand_in, monkeypatch, capsys) -> None:
    real = inception_score.compute
    # the command line's own path (flags -> Options -> compute), with the stand-in as the network
    monkeypatch.setattr(inception_score, "compute", lambda sources, options: real(sources, options, network=stand_in))

    def scored(*flags: str) -> dict:
        code, out, err = run_cli([small_folder, "--splits", "2", "--json", "--quiet", *flags], capsys)
        assert code == 0, err
        return json.loads(out)

    one, two, default = scored("--seed", "1"), scored("--seed", "2"), scored()
    api = real(small_folder, network=stand_in, splits=2, seed=1, progress=False).to_dict()
    for key in ("ci95", "bootstrap_std", "is_infinity", "inception_score_mean"):
        assert one[key] == pytest.approx(api[key], rel=1e-12), key
    assert one["ci95"] != pytest.approx(two["ci95"], rel=1e-6)
    assert one["is_infinity"] != pytest.approx(two["is_infinity"], rel=1e-9)
    assert default["ci95"] == pytest.approx(
        real(small_folder, network=stand_in, splits=2, seed=0, progress=False).ci95, rel=1e-12
    )


def test_human_summary_on_an_adm_npz(tmp_path: Path, checkpoint_path: Path, capsys, monkeypatch) -> None:
    np.savez(tmp_path / "samples.npz", make_images(5, (32, 32), seed=22))
    real, results = inception_score.compute, []
    monkeypatch.setattr(inception_score, "compute", lambda *a, **k: results.append(real(*a, **k)) or results[-1])
    code, out, err = run_cli(
        [tmp_path / "samples.npz", "--weights", checkpoint_path, "--protocol", "adm", "--quiet"], capsys
    )
    assert code == 0, err
    (result,) = results
    lines = out.splitlines()
    # the numbers printed are the run's: its mean (one chunk: no spread to print), its interval
    assert lines[0] == f"Inception Score: {result.mean:.4f}  (5 images, 1 split, protocol adm)"
    assert result.mean > 1.5 and result.std == 0.0
    assert f"[{result.ci95[0]:.4f}, {result.ci95[1]:.4f}]" in lines[1] and result.ci95[0] < result.mean
    assert "img/s" not in err  # --quiet: no progress bar (warnings remain)
    assert "IS grows with the number of images" in err


@pytest.mark.parametrize(
    "args,code,expected",
    [
        (["{missing}"], 3, "{missing}: no such file or folder"),
        (["{folder}", "--splits", "0"], 2, "splits: got 0, expected a positive integer"),
        (["{folder}", "--batch-size", "0"], 2, "--batch-size: got 0, expected a positive integer"),
        (["{folder}"], 2, "splits: 10 splits need at least 10 images, got 6 images"),
        (["{folder}", "--protocol", "adm", "--splits", "3"], 2, "leave splits unset"),
        (["{folder}", "--device", "tpu"], 2, "device: got 'tpu', expected auto, cpu, cuda, cuda:N, mps, xpu or xpu:N"),
        (["{folder}", "--weights", "{missing}", "--splits", "2"], 4, "{missing}"),
    ],
)
def test_errors_are_one_line_with_exit_codes(args, code, expected, small_folder: Path, tmp_path: Path, capsys) -> None:
    fill = {"missing": str(tmp_path / "missing"), "folder": str(small_folder)}
    got, out, err = run_cli([a.format(**fill) for a in args], capsys)
    assert got == code
    assert out == ""
    assert err.startswith("inception-score: error: ") and err.count("\n") == 1, err
    assert expected.format(**fill) in err and "Traceback" not in err


def test_cuda_without_a_gpu_is_a_clear_error(small_folder: Path, capsys) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    code, _, err = run_cli([small_folder, "--device", "cuda", "--splits", "2"], capsys)
    assert code == 5 and "no CUDA GPU is available here; use --device cpu" in err


def test_offline_without_weights_names_the_url_and_where_to_put_the_file(
    small_folder: Path, capsys, monkeypatch
) -> None:
    import inception_score.features.weights as w

    def refuse(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr("urllib.request.urlopen", refuse)
    code, _, err = run_cli([small_folder, "--splits", "2", "--quiet"], capsys)
    assert code == 4 and err.count("\n") == 1
    assert w.INCEPTION_2015.urls[0] in err and "hub/checkpoints" in err and "--weights" in err


def test_help_lists_the_protocols_and_exits_0(capsys) -> None:
    # Both entry points as real processes, with their exit codes: tests/test_exit_codes.py.
    code, out, err = run_cli(["--help"], capsys)
    assert code == 0 and err == ""
    assert "--protocol {torch-fidelity,original,adm,torchmetrics}" in out and "--seed N" in out
    presets = "torch-fidelity,pytorch-fid,clean-fid,clean-fid-legacy,torchmetrics,stylegan,adm,edm2,dgm-eval"
    assert f"--match {{{presets}}}" in out


@pytest.mark.parametrize(
    "args,expected",
    [
        (["--image-range", "1,0"], "--image-range: got '1,0', expected lo < hi"),
        (["--image-range", "a,b"], "--image-range: got 'a,b', expected two numbers lo,hi"),
        (["--state-interval", "-1"], "--state-interval: got -1.0, expected a number of seconds >= 0"),
        (["--shard", "1/2"], "--shard: 1/2 needs --save-stats PATH"),
        (["--shard", "x", "--save-stats", "s.pt"], "--shard: got 'x', expected i/K"),
        (["--check-precision", "5"], "--check-precision: got 5, but it compares fast with exact"),
    ],
)
def test_option_errors_are_one_line(args, expected, small_folder: Path, capsys) -> None:
    code, out, err = run_cli([small_folder, *args], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1 and expected in err, err
