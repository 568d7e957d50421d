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


# ---------------------------------------------------------------- --precision fast: what the device can do


def test_fast_runs_bfloat16_only_where_the_device_has_units_for_it(monkeypatch) -> None:
    import torch

    from inception_score.features import runner

    cpu = torch.device("cpu")
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)  # (a suite run held to AVX2 sets it)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    assert runner.cpu_bf16_units() == "AVX-512 BF16" and runner.fast_plan(cpu) == (torch.bfloat16, None)
    for held in ("AVX2", "avx512_core", "AVX512_CORE_VNNI"):  # oneDNN held below its bf16 kernels
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", held)
        dtype, note = runner.fast_plan(cpu)
        assert dtype == torch.float32 and note.startswith("precision fast: this CPU has no bfloat16 units")
        assert "fast runs float32 with batch norm folded and channels_last instead" in note
    for kept in ("AVX512_CORE_BF16", "AVX512_CORE_AMX", "ALL"):
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", kept)
        assert runner.fast_plan(cpu)[0] == torch.bfloat16
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    assert runner.fast_plan(cpu)[0] == torch.float32
    monkeypatch.delenv("ATEN_CPU_CAPABILITY")
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)  # an AVX2-only CPU
    assert runner.cpu_bf16_units() is None and runner.fast_plan(cpu)[0] == torch.float32
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)  # AMX (Sapphire Rapids and later)
    assert runner.cpu_bf16_units() == "AMX" and runner.fast_plan(cpu)[0] == torch.bfloat16
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported")  # an older torch without the probes
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported")
    assert runner.fast_plan(cpu)[0] == torch.float32
    for capability, dtype in (((7, 5), torch.float32), ((8, 0), torch.bfloat16), ((9, 0), torch.bfloat16)):
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device, c=capability: c)
        got, note = runner.fast_plan(torch.device("cuda"))
        assert got == dtype and (note is None) == (dtype == torch.bfloat16)
        assert note is None or "compute capability 7.5" in note


def test_fast_without_bf16_units_says_so_before_the_work_and_in_the_result(
    monkeypatch, checkpoint_path: Path, capsys, tmp_path: Path
) -> None:
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # as on a CPU without AVX-512 BF16 or AMX
    np.save(tmp_path / "x.npy", make_images(3, (16, 16), seed=6))
    argv = [str(tmp_path / "x.npy"), "--weights", str(checkpoint_path), "--splits", "1", "--bootstrap", "0"]
    assert main([*argv, "--precision", "fast", "--check-precision", "3", "--json"]) == 0
    out, err = capsys.readouterr()
    warning = "inception-score: warning: precision fast: this CPU has no bfloat16 units (AVX-512 BF16 or AMX)"
    assert err.startswith(warning)  # the first thing said, before the progress bar
    fast = json.loads(out)
    assert fast["fast_dtype"] == "float32" and any("no bfloat16 units" in w for w in fast["warnings"])
    assert ", fast (float32) (" in inception_score.Result(**fast).summary().splitlines()[-1]
    # float32 with folded batch norm and channels_last: other kernels, not bf16's rounding (~1e-2 here)
    assert fast["precision_check"]["relative_deviation"] < 1e-4


# ---------------------------------------------------------------- warnings: each metric at its N, each for its reason


def _spreads(values: list[float]) -> list[dict]:
    return [{"index": i + 1, "name": f"c{i}", "count": 5, "spread": v} for i, v in enumerate(values)]


def test_the_collapse_warning_names_the_reason_that_fired_it() -> None:
    from inception_score.metrics.near_duplicates import collapse_warning

    wide = {"within_class_spread": _spreads([0.3] * 6), "overall_spread": 0.4, "near_duplicate_threshold": 0.98}
    duplicates = collapse_warning({**wide, "near_duplicate_rate": 0.8}, score=9.0)
    assert duplicates.startswith("IS 9.00 with many near-duplicates: 80% of the images compared have a near-dup")
    assert "little diversity inside classes" not in duplicates and "only 0 of the 6 top classes are tight" in duplicates
    tight = {**wide, "within_class_spread": _spreads([0.01] * 5 + [0.3]), "near_duplicate_rate": 0.1}
    classes = collapse_warning(tight, score=9.0)
    assert classes.startswith("IS 9.00 with little diversity inside classes: 5 of the 6 top classes spread less")
    assert "many near-duplicates" not in classes
    both = collapse_warning({**tight, "near_duplicate_rate": 0.9}, score=9.0)
    assert both.startswith("IS 9.00 from near-copies: 90% of the images compared") and "5 of the 6 top" in both
    assert collapse_warning({**wide, "near_duplicate_rate": 0.1}, score=9.0) is None


def test_every_metric_warns_at_an_n_where_it_is_unreliable(tmp_path: Path, stand_in) -> None:
    import torch

    from inception_score.features.network import InceptionOutput
    from inception_score.metrics.kernel import KID
    from inception_score.metrics.manifold import DensityCoverage, PrecisionRecall
    from inception_score.metrics.reference import Reference

    g = torch.Generator().manual_seed(0)
    samples = SimpleFeatures(torch.rand(40, 16, generator=g))
    reference = Reference(features=torch.rand(5, 16, generator=g))
    pr = PrecisionRecall(samples, reference)
    said = pr.warnings(pr.fields({}))
    assert len(said) == 1 and said[0].startswith("precision/recall from 5 reference and 40 sample images (k = 3): ")
    assert "ball holds 75% of the other images of the smaller set" in said[0]
    dc = DensityCoverage(samples, Reference(features=torch.rand(8, 16, generator=g)))
    said = dc.warnings(dc.fields({}))
    assert said[0].startswith("density/coverage from 8 reference and 40 sample images (k = 5): each image's k-th")
    big = SimpleFeatures(torch.rand(1000, 4, generator=g))
    enough = PrecisionRecall(big, Reference(features=torch.rand(1000, 4, generator=g)), precision="float32")
    assert enough.warnings(enough.fields({})) == []

    kept = inception_score.metrics.features.PooledFeatures(num_images=60, feature_dim=16)
    kept.update(InceptionOutput(pool3=torch.rand(60, 16, generator=g)), np.arange(60))
    kid = KID(kept, Reference(features=torch.rand(70, 16, generator=g)), subsets=5, subset_size=40)
    said = kid.warnings(kid.fields({}))
    assert said[0].startswith("KID from subsets of 40 images (torch-fidelity: 1,000): unbiased, but its spread")
    assert said[1] == (
        "KID's 5 subsets of 40 images are drawn from 60 images of the smaller set: they overlap by more than half, "
        "so kid_std understates KID's uncertainty at this N"
    )

    # the whole run: IS at infinite N over tiny subsets, precision/recall against 5 images
    result = inception_score.compute(
        make_images(30, (12, 12), seed=9), network=stand_in, splits=1, bootstrap=0, progress=False
    )
    assert any(w.startswith("IS at infinite N fitted over subsets of 3 to 30 images") for w in result.warnings)


class SimpleFeatures:
    def __init__(self, rows) -> None:
        self.rows = rows


# ---------------------------------------------------------------- the report (also looked at in Chromium)


def test_outputs_that_are_not_classes_are_never_ranked_among_the_top_classes() -> None:
    import torch

    from inception_score.features.network import InceptionOutput
    from inception_score.metrics.diagnostics import ClassDiagnostics
    from inception_score.metrics.protocols import SplitPlan

    logits = torch.randn(20, 1008, generator=torch.Generator().manual_seed(0))
    logits[:, 0] += 12  # output 0 ("unused") holds most of the mass
    diagnostics = ClassDiagnostics(SplitPlan("original", 20, 1), 1008, named=True)
    diagnostics.update(InceptionOutput(logits_unbiased=logits), np.arange(20))
    fields = diagnostics.fields({})
    assert fields["top_classes"] and all(1 <= c["index"] <= 1000 for c in fields["top_classes"])
    assert "unused" not in [c["name"] for c in fields["top_classes"]]


def test_the_report_summarises_classes_keeps_paths_whole_and_draws_iso_is_where_the_splits_are(
    tmp_path: Path,
) -> None:
    pytest.importorskip("matplotlib")
    from inception_score.report.data import ReportData
    from inception_score.report.figures import _iso_levels
    from inception_score.report.html import write_report

    folder = "/data/experiments/a_long_folder_name_of_generated_samples/"
    result = {"inception_score_mean": 9.5, "inception_score_std": 0.0, "split_scores": [9.5], "num_images": 40,
              "splits": 1, "protocol": "adm", "weights_sha256": None, "num_classes_top1": 49,
              "num_classes_never_top1": 951, "classes_never_top1": [f"class {i}" for i in range(20)],
              "sources": [folder], "weights_path": "/home/me/.cache/torch/hub/checkpoints/weights.pth"}  # fmt: skip
    page = write_report(tmp_path, ReportData(result)).read_text(encoding="utf-8")
    assert '<p class="headline">9.5000</p>' in page  # one split: no ± 0.0000
    assert "951 of 1,000 classes<details><summary>the first 20</summary>class 0; class 1;" in page
    assert f"<code>{folder.replace('/', '/<wbr>')}</code>" in page  # a line breaks after a separator only
    assert "word-break: break-all" not in page
    levels = _iso_levels([(0.05, 180.0), (0.06, 170.0), (0.055, 172.0)], mean=9.6, one_split=12.0)
    assert sorted(levels.values()) == ["(highest split)", "(lowest split)", "(mean)", "(one split)"]
    assert min(levels) == pytest.approx(9.0) and max(levels) == 12.0  # through the data, not round numbers
    assert list(_iso_levels([(0.05, 180.0)], mean=9.0, one_split=9.0).values()) == ["(the split)"]


# ---------------------------------------------------------------- the README's first screen


def test_the_first_screen_installs_from_a_clone_and_says_what_to_do_offline() -> None:
    from inception_score.features import weights

    text = README.read_text(encoding="utf-8")
    first = text[text.index("```console") :].splitlines()[1]
    assert first.startswith("$ pip install .") and '".[report,fast]"' in first  # works from a clone, offline too
    screen = " ".join(text[: text.index("## Quickstart")].split())
    assert "`pip install inception-score` will work once the package is published on PyPI; it is not yet" in screen
    spec = weights.INCEPTION_2015
    for needed in (spec.urls[0], spec.filenames[0], "~/.cache/torch/hub/checkpoints/", "--weights PATH",
                   weights.ENV_VAR, "downloads the Inception weights"):  # fmt: skip
        assert needed in screen, needed
    # no message, help or README line suggests the unpublished package's extras
    assert "inception-score[" not in text
    source = Path(inception_score.__file__).parent
    for path in source.rglob("*.py"):
        assert "inception-score[" not in path.read_text(encoding="utf-8"), path
