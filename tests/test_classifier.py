"""Any classifier: a planted classifier gives the closed-form score, and the output says it is not IS."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from inception_score.cli import build_parser, main, options_from_args
from inception_score.errors import OptionsError
from inception_score.features.classifier import classifier_input
from inception_score.options import Options

CLASSIFIER = '''
import torch

def classify(x):
    """3 classes: which colour channel dominates; confident one-hot logits."""
    means = x.mean(dim=(2, 3))  # N x 3
    return torch.nn.functional.one_hot(means.argmax(1), 3).float() * 80.0
'''


def test_planted_classifier_gives_the_closed_form(tmp_path: Path, capsys) -> None:
    (tmp_path / "planted.py").write_text(CLASSIFIER)
    folder = tmp_path / "colours"
    folder.mkdir()
    for i in range(12):  # red, green, blue, each 4 times: IS = 3 exactly
        colour = [0, 0, 0]
        colour[i % 3] = 200
        Image.new("RGB", (10 + i, 12), tuple(colour)).save(folder / f"{i:02d}.png")
    code = main(
        [
            str(folder),
            "--classifier",
            f"{tmp_path / 'planted.py'}:classify",
            "--classifier-size",
            "8",
            "--splits",
            "1",
            "--json",
            "--quiet",
            "--bootstrap",
            "0",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    payload = json.loads(out)
    assert payload["inception_score_mean"] == pytest.approx(3.0, rel=1e-9)
    assert payload["diversity"] == pytest.approx(3.0, rel=1e-9) and payload["sharpness"] == pytest.approx(1.0)
    assert payload["weights_sha256"] is None and payload["precision"] == "custom network"
    assert "NOT comparable with published Inception Scores" in err
    assert any("NOT comparable" in w for w in payload["warnings"])


def test_classifier_input_resizes_scales_and_normalises() -> None:
    images = torch.full((2, 3, 5, 7), 255, dtype=torch.uint8)
    x = classifier_input(images, size=4, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    assert x.shape == (2, 3, 4, 4) and torch.allclose(x, torch.full_like(x, 2.0))
    same = classifier_input([images[0], images[1]], size=None, mean=(0, 0, 0), std=(1, 1, 1))
    assert same.shape == (2, 3, 5, 7) and float(same.max()) == 1.0
    argv = ["x", "--classifier", "m.pt", "--classifier-mean"]
    assert options_from_args(build_parser().parse_args([*argv, "0.5"])).classifier_mean == (0.5,) * 3
    assert Options(classifier="m.pt", classifier_std=[0.5, 0.25, 1]).classifier_std == (0.5, 0.25, 1.0)  # typed
    with pytest.raises(OptionsError, match="expected 1 or 3 numbers"):
        options_from_args(build_parser().parse_args([*argv, "1,2"]))
    with pytest.raises(OptionsError, match="classifier_mean: got '0,0,0', expected a tuple"):
        Options(classifier="m.pt", classifier_mean="0,0,0")
    for name, value in (("classifier_size", 32), ("classifier_mean", (0.5,) * 3), ("classifier_std", (0.2,) * 3)):
        with pytest.raises(OptionsError, match=f"^{name}: only with --classifier"):  # not silently ignored
            Options(**{name: value})
    assert np.isfinite(x.numpy()).all()
