"""Output paths are checked before any work: exit 2 naming the option, and the user's files untouched."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

import inception_score
from inception_score.cli import main

from .conftest import StandInClassifier, make_images, write_images


class Counting(StandInClassifier):
    calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        Counting.calls += 1
        return super().forward(x)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "imgs"
    write_images(folder, make_images(4, (16, 16), seed=9))
    npz = tmp_path / "samples.npz"
    np.savez(npz, make_images(4, (16, 16), seed=10))
    other = tmp_path / "notes.txt"
    other.write_text("my notes")
    return {"folder": folder, "npz": npz, "file": other, "tmp": tmp_path}


@pytest.mark.parametrize(
    "option,target,message",
    [
        ("save_stats", "npz", "save_stats: {npz} is one of the inputs; it would be overwritten"),
        ("save_stats", "file", "save_stats: {file} exists and was not written by inception-score"),
        ("save_stats", "folder", "save_stats: {folder} is one of the inputs"),
        ("state", "tmp", "state: {tmp} is a folder; expected a file path"),
        ("state", "npz", "state: {npz} is one of the inputs"),
        ("report", "file", "report: {file} exists and is not a folder"),
        ("report", "folder", "report: {folder} is one of the inputs; write to another folder"),
        ("save_stats", "under_file", "save_stats: {under_file}: {file} is not a folder"),
    ],
)
def test_bad_output_paths_are_refused_before_any_work(inputs, option: str, target: str, message: str) -> None:
    paths = {**{k: str(v) for k, v in inputs.items()}, "under_file": str(inputs["file"] / "stats.pt")}
    before = {k: digest(v) for k, v in inputs.items() if v.is_file()}
    Counting.calls = 0
    with pytest.raises(inception_score.OptionsError) as info:
        inception_score.compute([inputs["folder"], inputs["npz"]], network=Counting(), splits=1, progress=False,
                                **{option: paths[target]})  # fmt: skip
    assert message.format(**paths) in str(info.value)
    assert Counting.calls == 0  # nothing was scored
    assert {k: digest(v) for k, v in inputs.items() if v.is_file()} == before  # nothing was touched


@pytest.mark.parametrize("option", ["--cache", "--report"])
def test_folder_outputs_on_a_file_fail_at_once_on_the_command_line(inputs, option: str, capsys) -> None:
    # exit 2 before the weights are even looked for (none exist here: that would be exit 4)
    code = main([str(inputs["folder"]), "--splits", "1", option, str(inputs["file"])])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "exists and is not a folder" in err, err
    assert inputs["file"].read_text() == "my notes"


def test_our_own_statistics_file_may_be_replaced(inputs) -> None:
    stats = inputs["tmp"] / "stats.pt"
    for _ in range(2):  # the second run replaces the first run's file
        inception_score.compute(inputs["folder"], network=Counting(), splits=1, progress=False, save_stats=str(stats))
    assert stats.is_file()


def test_a_file_in_a_missing_folder_is_refused_and_nothing_is_created(inputs, capsys) -> None:
    """A typo in an output file's folder is an error before any work (exit 2), not a new tree of
    folders; a folder output (--report) is created with its parents, and only when written."""
    tmp = inputs["tmp"]
    for argv in (
        ["stats", str(inputs["folder"]), "-o", str(tmp / "typo" / "deeper" / "ref.npz")],
        [str(inputs["folder"]), "--save-stats", str(tmp / "typo" / "s.pt")],
        [str(inputs["folder"]), "--state", str(tmp / "typo" / "state.pt")],
    ):
        assert main([*argv, "--weights", str(tmp / "none.pth")]) == 2
        err = capsys.readouterr().err
        assert f"the folder {tmp / 'typo'}" in err and "does not exist; create it first" in err, err
        assert not (tmp / "typo").exists()
    Counting.calls = 0
    with pytest.raises(inception_score.InputError):  # fails after the check: the report folder is not made
        inception_score.compute([inputs["folder"], tmp / "missing.png"], network=Counting(), splits=1,
                                progress=False, report=str(tmp / "new" / "report"))  # fmt: skip
    assert not (tmp / "new").exists() and Counting.calls == 0
