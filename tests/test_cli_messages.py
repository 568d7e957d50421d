"""What a new user saw in a trial of the command line, each made right: the evaluate subcommand with
--metrics, a reference that is not read or is the wrong kind of file, shards with nothing to score,
warnings under torchrun, where the outputs went, speed after a resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import inception_score
from inception_score.cli import _one_line_warning, main
from inception_score.errors import recording
from inception_score.options import Options
from inception_score.run.pipeline import resolve_metrics

from .conftest import make_images, write_images


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("trial")
    write_images(root / "samples", make_images(5, (24, 24), seed=71))
    adm = root / "ref_batch.npz"
    np.savez(adm, arr_0=make_images(6, (24, 24), seed=72))
    return {"samples": root / "samples", "adm": adm, "root": root}


def test_evaluate_takes_metrics_that_compare_with_its_reference(sets, checkpoint_path: Path, capsys) -> None:
    argv = ["evaluate", str(sets["adm"]), str(sets["samples"]), "--weights", str(checkpoint_path), "--quiet"]
    assert main([*argv, "--metrics", "pr", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert 0 <= out["precision"] <= 1 and 0 <= out["recall"] <= 1 and out["fid"] is None
    assert out["details"]["fid_reference"]["path"] == str(sets["adm"])


def test_a_reference_is_not_read_when_no_metric_compares_with_it(sets, checkpoint_path: Path, capsys) -> None:
    argv = [str(sets["samples"]), "--weights", str(checkpoint_path), "--quiet", "--splits", "1", "--json"]
    assert main([*argv, "--ref", str(sets["adm"]), "--metrics", "is"]) == 0
    captured = capsys.readouterr()
    assert "warning: ref: not read, as --metrics is compares nothing with it" in captured.err
    assert json.loads(captured.out)["fid_reference"] is None


def test_a_pt_file_as_reference_says_what_it_is(sets, checkpoint_path: Path, capsys) -> None:
    stats = sets["root"] / "shard.pt"
    stats.write_bytes(b"not even read")
    argv = [str(sets["samples"]), "--weights", str(checkpoint_path), "--quiet", "--splits", "1"]
    assert main([*argv, "--ref", str(stats)]) == 3
    err = capsys.readouterr().err
    assert f"error: ref: {stats}: a .pt file holds a shard's statistics or a run's state" in err
    assert "inception-score merge" in err and "inception-score stats" in err and err.count("\n") == 1


def test_kid_left_out_for_a_reference_without_features_is_said(tmp_path: Path) -> None:
    pytorch_fid = tmp_path / "pf.npz"
    np.savez(pytorch_fid, mu=np.zeros(2048), sigma=np.eye(2048))
    with recording() as said:
        metrics, implied = resolve_metrics(Options(ref=str(pytorch_fid)))
    assert metrics == ("is", "fid") and not implied
    assert len(said) == 1 and said[0].startswith(f"KID not computed: {pytorch_fid} holds the mean and covariance")
    with recording() as said:  # asked for by name: no guessing, so nothing to say
        resolve_metrics(Options(ref=str(pytorch_fid), metrics=("fid",)))
    assert said == []


def test_a_shard_with_no_images_warns_and_says_so(sets, stand_in, tmp_path: Path) -> None:
    run = dict(network=stand_in, splits=1, batch_size=8, progress=False)
    with pytest.warns(inception_score.InceptionScoreWarning, match=r"shard 1/2: no images to score \(5 images"):
        empty = inception_score.compute(sets["samples"], shard=(1, 2), save_stats=str(tmp_path / "b.pt"), **run)
    assert empty.start == empty.stop == 5 and "shard 1/2: no images of 5;" in empty.summary()
    inception_score.compute(sets["samples"], shard=(0, 2), save_stats=str(tmp_path / "a.pt"), **run)
    merged = inception_score.merge_stats([str(tmp_path / "a.pt"), str(tmp_path / "b.pt")])
    assert merged.num_images == 5


def test_a_resumed_run_counts_only_the_images_it_scored(sets, stand_in, tmp_path: Path) -> None:
    run = dict(network=stand_in, splits=1, batch_size=2, progress=False, state=str(tmp_path / "s.pt"))
    assert inception_score.compute(sets["samples"], **run).images_per_second > 0
    with pytest.warns(inception_score.InceptionScoreWarning, match="5 images already scored"):
        again = inception_score.compute(sets["samples"], **run)
    assert again.images_per_second == 0.0 and again.num_images == 5


def test_warnings_come_from_rank_zero_only(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("RANK", "1")
    _one_line_warning("the same on every rank", UserWarning, "x.py", 1)
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("RANK", "0")
    _one_line_warning("the same on every rank", UserWarning, "x.py", 1)
    assert capsys.readouterr().err == "inception-score: warning: the same on every rank\n"


def test_the_command_line_says_where_outputs_went(sets, checkpoint_path: Path, tmp_path: Path, capsys) -> None:
    pytest.importorskip("matplotlib")
    weights = ["--weights", str(checkpoint_path), "--quiet"]
    report = tmp_path / "report"
    assert main([str(sets["samples"]), *weights, "--splits", "1", "--report", str(report)]) == 0
    assert f"report: {report / 'report.html'}" in capsys.readouterr().out.splitlines()
    assert (report / "report.html").is_file()
    out = tmp_path / "ref.npz"
    assert main(["stats", str(sets["samples"]), "-o", str(out), *weights, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["output"] == str(out)


def test_metrics_without_a_reference_name_them_in_good_grammar() -> None:
    with pytest.raises(inception_score.OptionsError, match="^metrics: fid compares the samples with real images; give"):
        Options(metrics=("fid",))
    with pytest.raises(inception_score.OptionsError, match="^metrics: fid and kid compare the samples with real"):
        Options(metrics=("is", "fid", "kid"))
