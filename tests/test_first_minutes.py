"""What a new user hit in the first five minutes on a fresh clone (issue 26), each made right: one rule
for float arrays from files and from memory, no torch noise for read-only arrays, no spread printed
for one split, a command line that refuses abbreviations and shows its subcommands, a help that
agrees with the README."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import inception_score
from inception_score.cli import main

from .conftest import make_images

README = Path(__file__).resolve().parents[1] / "README.md"


def _tanh(images: np.ndarray) -> np.ndarray:
    return (images.astype(np.float64) / 255 * 2 - 1).astype(np.float32)


# ---------------------------------------------------------------- floats: one rule wherever they come from


def test_a_float_npy_on_the_command_line_gets_the_arrays_message_and_rule(
    tmp_path: Path, checkpoint_path: Path, capsys
) -> None:
    images = make_images(4, (16, 16), seed=3)
    np.save(tmp_path / "tanh.npy", _tanh(images))
    argv = ["--weights", str(checkpoint_path), "--quiet", "--splits", "1", "--bootstrap", "0", "--json"]
    # without --image-range: refused with the same words and hint as the API's for the same array
    assert main([str(tmp_path / "tanh.npy"), *argv]) == 3
    cli = capsys.readouterr().err.strip()
    with pytest.raises(inception_score.InputError) as api:
        inception_score.compute(_tanh(images), weights=str(checkpoint_path), progress=False)
    assert cli.startswith(f"inception-score: error: {tmp_path / 'tanh.npy'}: float values must lie in [0, 1]")
    assert cli.split(": ", 3)[-1] == str(api.value).split(": ", 1)[1]
    assert "(--image-range=-1,1)" in cli
    # with it: the score of the uint8 images, exactly
    assert main([str(tmp_path / "tanh.npy"), *argv, "--image-range=-1,1"]) == 0
    floats = json.loads(capsys.readouterr().out)
    np.save(tmp_path / "u8.npy", images)
    assert main([str(tmp_path / "u8.npy"), *argv]) == 0
    assert floats["inception_score_mean"] == json.loads(capsys.readouterr().out)["inception_score_mean"]


def test_float_npz_files_are_checked_before_the_work_and_read_in_any_layout(tmp_path: Path, stand_in) -> None:
    images = make_images(5, (12, 12), seed=4)
    run = dict(network=stand_in, splits=1, bootstrap=0, progress=False)
    expected = inception_score.compute(images, **run).mean
    np.savez_compressed(tmp_path / "big-endian.npz", _tanh(images).astype(">f4"))  # streamed, other byte order
    np.savez(tmp_path / "f64.npz", (images / 255.0).transpose(0, 3, 1, 2))  # memory-mapped, N x 3 x H x W
    assert inception_score.compute(str(tmp_path / "big-endian.npz"), image_range=(-1, 1), **run).mean == expected
    assert inception_score.compute(str(tmp_path / "f64.npz"), **run).mean == expected
    bad = _tanh(images)
    bad[3, 2, 1, 0] = np.nan
    np.savez_compressed(tmp_path / "nan.npz", bad)
    with pytest.raises(inception_score.InputError, match=r"nan.npz: contains NaN or inf \(image 3\)"):
        inception_score.compute(str(tmp_path / "nan.npz"), image_range=(-1, 1), **run)
    # --image-range is refused only where no float images are given
    np.save(tmp_path / "u8.npy", images)
    with pytest.raises(inception_score.OptionsError, match="image_range: .* float .npy/.npz"):
        inception_score.compute(str(tmp_path / "u8.npy"), image_range=(-1, 1), **run)
    with pytest.raises(inception_score.InputError, match="expected uint8 in \\[0, 255\\] or float"):
        np.save(tmp_path / "int16.npy", images.astype(np.int16))
        inception_score.compute(str(tmp_path / "int16.npy"), **run)


# ---------------------------------------------------------------- noise


def test_a_read_only_array_is_scored_without_a_torch_warning(stand_in) -> None:
    images = make_images(4, (12, 12), seed=5)
    frozen = images.copy()
    frozen.flags.writeable = False
    floats = (images / 255.0).astype(np.float32)
    floats.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning, torch's "not writable" included, fails the test ...
        warnings.simplefilter("ignore", inception_score.InceptionScoreWarning)  # ... but the score's own (N)
        run = dict(network=stand_in, splits=1, bootstrap=0, progress=False)
        assert inception_score.compute(frozen, **run).mean == inception_score.compute(images, **run).mean
        assert inception_score.compute(floats, **run).mean == inception_score.compute(images, **run).mean
        nchw = np.ascontiguousarray(images.transpose(0, 3, 1, 2))
        nchw.flags.writeable = False
        metric = inception_score.InceptionScore(network=stand_in, splits=1, bootstrap=0)
        metric.update(nchw)
        assert metric.compute().mean == inception_score.compute(images, **run).mean
    assert images.flags.writeable and not frozen.flags.writeable  # the input was not touched


def test_one_split_prints_no_spread() -> None:
    one = inception_score.Result(inception_score_mean=3.25, inception_score_std=0.0, split_scores=[3.25],
                                 num_images=4000, splits=1, protocol="adm", weights_sha256=None)  # fmt: skip
    assert one.summary().splitlines()[0] == "Inception Score: 3.2500  (4000 images, 1 split, protocol adm)"
    two = inception_score.Result(inception_score_mean=3.25, inception_score_std=0.0, split_scores=[3.25, 3.25],
                                 num_images=4000, splits=2, protocol="adm", weights_sha256=None)  # fmt: skip
    assert "3.2500 ± 0.0000" in two.summary()  # two equal splits: a spread of zero is a fact


# ---------------------------------------------------------------- the command line


@pytest.mark.parametrize(
    "argv",
    [
        ["x", "--split", "5"],  # --splits
        ["x", "--batch", "5"],  # --batch-size
        ["stats", "x", "-o", "r.npz", "--with-feat"],  # --with-features
        ["evaluate", "a.npz", "b.npz", "--metric", "fid"],  # --metrics
        ["merge", "a.pt", "--rep", "out"],  # --report
    ],
)
def test_an_abbreviated_option_is_an_error(argv: list[str], capsys) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: " in err and err.count("\n") == 1


def test_the_usage_line_shows_the_subcommands(capsys) -> None:
    assert main(["--help"]) == 0
    usage = capsys.readouterr().out.split("\n\n")[0]
    for command in ("stats SOURCE", "evaluate REF_BATCH SAMPLE_BATCH", "merge FILE"):
        assert f"inception-score {command}" in usage
    assert main(["merge", "--help"]) == 0 and "usage: inception-score merge" in capsys.readouterr().out


def test_compile_help_and_readme_give_the_same_cost(capsys) -> None:
    assert main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    help_cost = re.search(r"--compile\s+torch.compile the network: a one-off compilation \(~(\d+) s", text)
    assert help_cost, text[text.find("--compile") :][:200]
    readme = " ".join(README.read_text(encoding="utf-8").split())
    assert f"`--compile` costs a one-off compilation (about {help_cost.group(1)} s on a 2-core CPU" in readme
