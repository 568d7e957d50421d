"""Faults from public bug reports of the tools our users run, each with its small input (issue 13)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import inception_score
from inception_score.cli import main
from inception_score.errors import InputError
from inception_score.metrics.inception import inception_score_from_logits

from .conftest import StandInClassifier, make_images, write_images

# --------------------------------------------------------------------------- NaN is never a score


def test_nan_logits_are_refused_naming_the_row() -> None:
    t = torch.randn(4, 1008)
    t[2, 5] = float("nan")
    with pytest.raises(InputError, match=r"logits: row 2 holds NaN or inf"):
        inception_score_from_logits(t, splits=1)
    t[2, 5] = float("inf")
    with pytest.raises(InputError, match=r"logits: row 2 holds NaN or inf"):
        inception_score_from_logits(t, splits=1)


def test_the_metric_object_refuses_nan_logits_at_update() -> None:
    metric = inception_score.InceptionScore(splits=1, network=StandInClassifier())
    bad = torch.zeros(3, 1008)
    bad[1, 0] = float("nan")
    with pytest.raises(InputError, match="update: logits row 1 of the batch holds NaN or inf"):
        metric.update(logits=bad)


class NanOnWhite(StandInClassifier):
    """A network (as in fast mode, or a --classifier) that overflows on one kind of image: white ones."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        out[x.flatten(1).min(dim=1).values > 0.99, 3] = float("nan")
        return out


def test_a_network_giving_nan_is_refused_naming_the_file_and_index(tmp_path: Path) -> None:
    images = make_images(5, (16, 16), seed=1)
    images[2] = 255
    write_images(tmp_path / "d", images)
    with pytest.raises(InputError) as info:
        inception_score.compute(tmp_path / "d", network=NanOnWhite(), splits=1, batch_size=2, progress=False)
    message = str(info.value)
    assert "img_00002.png" in message and "(image 2)" in message and "NaN or inf" in message


def test_a_classifier_giving_nan_exits_3_with_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    write_images(tmp_path / "d", make_images(4, (16, 16), seed=2))
    module = tmp_path / "nan_classifier.py"
    module.write_text("import torch\ndef model(x):\n    return torch.full((len(x), 10), float('nan'))\n")
    code = main([str(tmp_path / "d"), "--classifier", f"{module}:model", "--splits", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 3 and err.count("\n") <= 2  # the classifier's "not comparable" warning, then the error
    assert "classifier" in err and "NaN or inf" in err and "img_00000.png" in err


# --------------------------------------------------------------------------- warnings are recorded anyway


def test_recorded_warnings_do_not_depend_on_the_warnings_filter(tmp_path: Path) -> None:
    from PIL import Image

    folder = tmp_path / "jpegs"
    folder.mkdir()
    for i, image in enumerate(make_images(10, (16, 16), seed=3)):
        Image.fromarray(image).save(folder / f"{i}.jpg")
    run = dict(network=StandInClassifier(), splits=2, progress=False)
    shown = inception_score.compute(folder, **run).warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        silenced = inception_score.compute(folder, **run).warnings
    assert len(shown) == 4 and silenced == shown  # JPEGs, few images, N-dependence, IS at infinite N from few
    assert any("JPEG" in w for w in silenced) and any("infinite N" in w for w in silenced)


# --------------------------------------------------------------------------- logits need no weights


def test_logits_alone_need_no_weights_and_no_download(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the metric tried to download the weights")

    monkeypatch.setattr("urllib.request.urlopen", refuse)
    metric = inception_score.InceptionScore(splits=1)
    logits = torch.eye(1008)[:20] * 30
    metric.update(logits=logits)
    result = metric.compute()
    assert result.mean == pytest.approx(20.0, rel=1e-6) and result.weights_sha256 is None
    assert result.near_duplicate_rate is None  # logits carry no pool3: nothing said about duplicates


# --------------------------------------------------------------------------- small things


def test_merge_takes_the_output_flags_and_counts_in_singular(tmp_path: Path, capsys) -> None:
    write_images(tmp_path / "d", make_images(1, (16, 16), seed=4))
    stats = tmp_path / "s.pt"
    inception_score.compute(tmp_path / "d", network=StandInClassifier(), splits=1, save_stats=str(stats),
                            shard=(0, 1), progress=False, bootstrap=0)  # fmt: skip
    assert main(["merge", str(stats), "--quiet", "--json"]) == 0
    capsys.readouterr()
    assert main([str(tmp_path / "d"), "--splits", "2"]) == 2
    assert "got 1 image (use fewer splits" in capsys.readouterr().err


def test_a_malformed_flag_is_one_line(capsys) -> None:
    assert main(["x", "--splits", "abc"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "argument --splits: invalid int value: 'abc'" in err and "usage:" not in err


def test_control_characters_in_names_are_escaped(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "evil\n\x1b[2Jname\r.png"
    bad.write_bytes(b"not an image")
    assert main([str(bad), "--splits", "1"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\x1b" not in err and "\r" not in err
    assert "evil\\n\\x1b[2Jname\\r.png" in err


def test_merging_the_same_shard_twice_names_the_files(tmp_path: Path) -> None:
    write_images(tmp_path / "d", make_images(4, (16, 16), seed=5))
    stats = tmp_path / "a.pt"
    inception_score.compute(tmp_path / "d", network=StandInClassifier(), splits=1, save_stats=str(stats),
                            shard=(0, 2), progress=False, bootstrap=0, batch_size=2)  # fmt: skip
    with pytest.raises(InputError, match=r"images 0\.\.1 are in both .*a\.pt and .*a\.pt \(the same shard twice\?\)"):
        inception_score.merge_stats([str(stats), str(stats)])


def test_fortran_and_c_order_are_the_same_images(tmp_path: Path) -> None:
    images = make_images(6, (16, 16), seed=6)
    np.savez(tmp_path / "c.npz", images)
    np.savez(tmp_path / "f.npz", np.asfortranarray(images))
    run = dict(network=StandInClassifier(), splits=1, progress=False, bootstrap=0)
    c = inception_score.compute(tmp_path / "c.npz", **run)
    f = inception_score.compute(tmp_path / "f.npz", **run)
    assert f.split_scores == c.split_scores
