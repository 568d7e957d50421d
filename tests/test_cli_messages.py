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
    assert f"error: ref: {stats}: a .pt/.pth file (weights, a shard's statistics or a run's state" in err
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


def test_merge_refuses_an_unfinished_state_file_and_takes_one_path(sets, stand_in, tmp_path: Path) -> None:
    import torch

    run = dict(network=stand_in, splits=1, batch_size=2, progress=False)
    state = tmp_path / "run.pt"
    inception_score.compute(sets["samples"], state=str(state), **run)
    done = inception_score.merge_stats(str(state))  # one path, not a list of its characters
    assert done.num_images == 5
    payload = torch.load(state, weights_only=True)
    payload["provenance"]["next"] = 2  # what a run stopped after 2 of its 5 images leaves
    torch.save(payload, tmp_path / "cut.pt")
    with pytest.raises(inception_score.InputError, match=r"cut\.pt: an unfinished --state file \(images 2\.\.4 of"):
        inception_score.merge_stats([str(tmp_path / "cut.pt")])


def test_someone_elses_report_page_is_never_replaced(sets, stand_in, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    folder = tmp_path / "rdir"
    folder.mkdir()
    (folder / "report.html").write_text("<html>mine</html>")
    with pytest.raises(inception_score.OptionsError, match=r"report\.html exists and was not written by inc"):
        inception_score.compute(sets["samples"], network=stand_in, splits=1, progress=False, report=str(folder))
    assert (folder / "report.html").read_text() == "<html>mine</html>"
    ours = tmp_path / "ours"
    for _ in range(2):  # our own page is replaced by the next run
        inception_score.compute(sets["samples"], network=stand_in, splits=1, progress=False, report=str(ours))
    assert (ours / "report.html").is_file()


def test_stats_output_must_be_an_npz_that_ref_reads(sets, checkpoint_path: Path, tmp_path: Path, capsys) -> None:
    for name in ("ref.pt", "ref"):
        argv = ["stats", str(sets["samples"]), "-o", str(tmp_path / name), "--weights", str(checkpoint_path)]
        assert main(argv) == 2
        assert "expected a file name ending in .npz (what --ref reads)" in capsys.readouterr().err
        assert not (tmp_path / name).exists()


def test_metrics_as_one_string_in_python() -> None:
    assert Options(metrics="fid, pr", ref="x.npz").metrics == ("fid", "pr")


def test_errors_before_the_ranks_join_come_from_rank_zero(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("RANK", "1")
    assert main([str(tmp_path / "missing")]) == 3
    assert capsys.readouterr().err == ""  # rank 0 checked the same and said it
    monkeypatch.setenv("RANK", "0")
    assert main([str(tmp_path / "missing")]) == 3
    assert "missing: no such file or folder" in capsys.readouterr().err


def test_an_interrupted_run_says_where_its_progress_is(monkeypatch, capsys, tmp_path: Path) -> None:
    import inception_score.cli as cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_run_command", interrupted)
    state = tmp_path / "run.pt"
    # stopped before the first save: no claim that a state file exists
    assert main(["x", "--state", str(state)]) == 130
    err = capsys.readouterr().err
    assert "holds the progress" not in err and "nothing was saved yet" in err and "starts over" in err
    state.write_bytes(b"saved")  # after a save
    assert main(["x", "--state", str(state)]) == 130
    err = capsys.readouterr().err
    assert "interrupted;" in err and "run.pt holds the progress saved so far: run the same command" in err
    assert main(["x"]) == 130 and capsys.readouterr().err.strip() == "inception-score: interrupted"


def test_errors_about_the_reference_say_so(sets, checkpoint_path: Path, tmp_path: Path, capsys) -> None:
    argv = [str(sets["samples"]), "--weights", str(checkpoint_path), "--quiet", "--splits", "1", "--ref"]
    empty = tmp_path / "empty"
    empty.mkdir()
    for ref in (tmp_path / "missing.npz", empty):
        assert main([*argv, str(ref)]) == 3
        assert capsys.readouterr().err.startswith(f"inception-score: error: ref: {ref}: ")


def test_merge_writes_the_report_of_the_whole_run(sets, stand_in, tmp_path: Path, capsys) -> None:
    pytest.importorskip("matplotlib")
    run = dict(network=stand_in, splits=1, batch_size=2, progress=False)
    files = [str(tmp_path / f"s{i}.pt") for i in range(2)]
    for i, path in enumerate(files):
        inception_score.compute(sets["samples"], shard=(i, 2), save_stats=path, **run)
    report = tmp_path / "merged"
    assert main(["merge", *files, "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert f"report: {report / 'report.html'}" in out
    page = (report / "report.html").read_text(encoding="utf-8")
    single = inception_score.compute(sets["samples"], **run)
    assert f"{single.inception_score_mean:.4f}" in page and "<h1>Inception Score</h1>" in page
    (report / "report.html").write_text("mine")  # someone else's page now: refused before any work
    assert main(["merge", *files, "--report", str(report)]) == 2
    assert "was not written by inception-score" in capsys.readouterr().err


def test_a_reference_without_features_is_named_before_subset_sizes(sets, stand_in, tmp_path: Path) -> None:
    """The one problem no setting can fix comes first (it once came after 'KID needs 1000 images')."""
    pytorch_fid = tmp_path / "pf.npz"
    np.savez(pytorch_fid, mu=np.zeros(2048), sigma=np.eye(2048))
    with pytest.raises(inception_score.InputError, match=r"^ref: .*pf\.npz: pytorch-fid statistics without the "):
        inception_score.compute(sets["samples"], network=stand_in, splits=1, progress=False, ref=str(pytorch_fid),
                                metrics="fid,kid")  # fmt: skip


def test_state_and_save_stats_files_are_not_confused(sets, stand_in, tmp_path: Path) -> None:
    run = dict(network=stand_in, splits=1, batch_size=2, progress=False)
    same = str(tmp_path / "same.pt")
    with pytest.raises(inception_score.OptionsError, match=r"same\.pt is also --state; give each a file of its own"):
        inception_score.compute(sets["samples"], save_stats=same, state=same, **run)
    stats = str(tmp_path / "stats.pt")
    inception_score.compute(sets["samples"], save_stats=stats, **run)
    with pytest.raises(inception_score.InputError, match=r"stats\.pt: a --save-stats file, not a --state file"):
        inception_score.compute(sets["samples"], state=stats, **run)
    for option in ("save_stats", "state"):  # an .npz name would pass for a --ref file
        with pytest.raises(inception_score.OptionsError, match=rf"^{option}: .*x\.npz: these files are torch files"):
            inception_score.compute(sets["samples"], **{option: str(tmp_path / "x.npz")}, **run)
    with pytest.raises(inception_score.OptionsError, match="ends with a separator; expected a file path"):
        inception_score.compute(sets["samples"], save_stats=str(tmp_path / "nd") + "/", **run)
    assert not (tmp_path / "nd").exists()


def test_a_torch_file_named_npz_as_reference_says_what_it_is(sets, stand_in, tmp_path: Path) -> None:
    import torch

    fake = tmp_path / "ss.npz"
    torch.save({"a": torch.zeros(2)}, fake)
    with pytest.raises(inception_score.InputError, match=r"^ref: .*ss\.npz: a torch file \(a --save-stats or --state"):
        inception_score.compute(sets["samples"], network=stand_in, splits=1, progress=False, ref=str(fake))


def test_report_figures_of_someone_else_and_reports_inside_recursive_inputs_are_refused(
    sets, stand_in, tmp_path: Path
) -> None:
    run = dict(network=stand_in, splits=1, progress=False)
    mine = tmp_path / "rep"
    mine.mkdir()
    (mine / "report-marginal.png").write_text("my figure")
    with pytest.raises(inception_score.OptionsError, match=r"report-marginal\.png exists, and no report\.html"):
        inception_score.compute(sets["samples"], report=str(mine), **run)
    assert (mine / "report-marginal.png").read_text() == "my figure"
    with pytest.raises(inception_score.OptionsError, match="is inside the input folder .* which --recursive reads"):
        inception_score.compute(sets["root"], recursive=True, report=str(sets["root"] / "rep"), **run)


def test_image_range_without_float_images_is_refused(sets, stand_in) -> None:
    with pytest.raises(inception_score.OptionsError, match=r"^image_range: got \(-1.0, 1.0\), but it is the range"):
        inception_score.compute(sets["samples"], network=stand_in, splits=1, progress=False, image_range=(-1, 1))


def test_metrics_is_never_reads_the_reference(sets, stand_in, tmp_path: Path) -> None:
    junk = tmp_path / "junk.npz"
    np.savez(junk, other=np.zeros(3))
    with pytest.warns(inception_score.InceptionScoreWarning, match="ref: not read"):
        inception_score.compute(
            sets["samples"], network=stand_in, splits=1, progress=False, ref=str(junk), metrics="is"
        )


def test_a_failing_generator_is_an_input_error_naming_z_dim(stand_in) -> None:
    import torch

    g = torch.nn.Sequential(torch.nn.Linear(8, 48), torch.nn.Unflatten(1, (3, 4, 4)), torch.nn.Tanh())
    with pytest.raises(inception_score.InputError, match=r"the generator failed \(RuntimeError: mat1 and mat2 .*z-dim"):
        inception_score.compute(g, num_samples=4, z_dim=5, image_range=(-1, 1), network=stand_in, splits=1,
                                progress=False)  # fmt: skip


def test_a_rank_stopped_by_another_ranks_failure_says_so(monkeypatch, capsys) -> None:
    import inception_score.cli as cli

    def lost(*args, **kwargs):
        raise RuntimeError("[../third_party/gloo/transport/tcp/pair.cc:534] Connection closed by peer")

    monkeypatch.setenv("RANK", "1")
    monkeypatch.setattr(cli, "_ranks_joined", lambda: True)
    monkeypatch.setattr(cli, "_run_command", lost)
    assert main(["x"]) == 1
    err = capsys.readouterr().err
    assert err == "inception-score: error: rank 1: stopped, as another rank stopped (see its error)\n"

    def bug(*args, **kwargs):
        raise ValueError("a bug of ours")

    monkeypatch.setattr(cli, "_run_command", bug)  # anything else is still an internal error, named
    assert main(["x"]) == 1
    assert "internal error: ValueError: a bug of ours" in capsys.readouterr().err
