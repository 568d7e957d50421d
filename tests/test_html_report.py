"""The HTML report: files written atomically beside a self-contained page, hostile text escaped,
every figure a readable PNG, a result without its optional fields still rendered, the metrics to
come shown only when present, the user's matplotlib settings untouched, and one line when
matplotlib is missing."""

from __future__ import annotations

import base64
import dataclasses
import re
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inception_score.errors import OptionsError
from inception_score.report.data import ConfidenceHistogram, ReportData, ReportImage, report_data
from inception_score.report.html import (
    FIGURES,
    OPTIONAL_FIGURES,
    REPORT_NAME,
    check_report_dependencies,
    write_report,
)
from inception_score.report.result import Result

HOSTILE = "/data/<script>&.png"
CONTROL = "/data/evil\x1b[2J\x00.png"  # an escape sequence and a NUL in a file name
MISSING_EXTRA = (
    "report: needs matplotlib; install it: pip install 'matplotlib>=3.7' (or the 'report' extra, pip install "
    "'.[report]' in a clone of inception-score)"
)


def thumbnail(seed: int, h: int = 64, w: int = 80) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def full_result() -> dict:
    rng = np.random.default_rng(0)
    scores = [float(v) for v in 9.5 + rng.normal(0, 0.1, 10)]
    sharp = [float(v) for v in 0.05 + rng.normal(0, 0.002, 10)]
    n = [5000 * k for k in range(1, 11)]
    return {
        "inception_score_mean": float(np.mean(scores)),
        "inception_score_std": float(np.std(scores)),
        "split_scores": scores,
        "num_images": 50000,
        "splits": 10,
        "protocol": "original",
        "weights_sha256": "6726825d" + "ab" * 28,
        "sharpness": 0.05,
        "diversity": 190.0,
        "inception_score_one_split": 9.5,
        "split_sharpness": sharp,
        "split_diversity": [s / h for s, h in zip(scores, sharp, strict=True)],
        "num_effective_classes": 190.0,
        "num_classes_with_mass": 870,
        "num_classes_top1": 912,
        "num_classes_never_top1": 2,
        "classes_never_top1": ["kit fox, Vulpes macrotis", "cougar & <puma>"],
        "mean_top1_confidence": 0.77,
        "top_classes": [{"index": 219, "name": "revolver, six-gun", "probability": 0.037, "top1_count": 1872}],
        "ci95": [9.41, 9.62],
        "bootstrap_std": 0.05,
        "bootstrap_replicates": 200,
        "is_infinity": 9.9,
        "is_infinity_fit": {
            "is_infinity": 9.9,
            "slope": -2000.0,
            "r2": 0.99,
            "n": n,
            "is_n": [9.9 - 2000 / k for k in n],
        },
        "warnings": ["splits of 5000 images: smaller splits score lower"],
        "package_version": "0.1.0",
        "torch_version": "2.5.1",
        "device": "cpu",
        "precision": "exact",  # the run's arithmetic, not the precision/recall metric
        "sources": ["/data/run-7", HOSTILE, "/data/bad\udcff-name.png", CONTROL],
        "elapsed_s": 12.5,
        "num_skipped": 0,
    }


def with_fid(result: dict) -> dict:
    n = result["is_infinity_fit"]["n"]
    return result | {
        "fid": 12.3456,
        "kid_mean": 0.00412,
        "kid_std": 0.00031,
        "sfid": 20.5,
        "improved_precision": 0.71,
        "improved_recall": 0.55,
        "pr_k": 3,
        "density": 0.98,
        "coverage": 0.83,
        "fid_reference": {"path": "/ref/<b>in</b>.npz", "kind": "npz", "num_images": 50000, "sha256": "cd" * 32},
        "fid_infinity": 11.9,
        "fid_infinity_fit": {"n": n, "fid_n": [11.9 + 2e4 / k for k in n], "slope": 2e4, "r2": 0.998},
    }


def gallery(first: int, confidence: float, step: float) -> list[ReportImage]:
    return [
        ReportImage(
            index=first + k,
            label=f"image {first + k}",
            confidence=confidence + step * k,
            class_name=f"class {k}",
            thumbnail=thumbnail(first + k),
        )
        for k in range(6)
    ]


def full_data(result: dict | None = None) -> ReportData:
    q = np.random.default_rng(1).dirichlet(np.ones(1008))
    q[5] = 0.2  # the top bar: a name that is hostile to HTML, to mathtext and to the font
    names = [f"name {i}, synonym" for i in range(1008)]
    names[5] = "cou<gar> $\\alpha$ \n 猫"
    counts, edges = np.histogram(np.random.default_rng(2).beta(5, 1.5, 1000), bins=20, range=(0, 1))
    most, least = gallery(0, 0.99, -0.01), gallery(100, 0.05, 0.01)
    most[1] = ReportImage(1, HOSTILE, 0.98, "class 1", thumbnail(1))
    most[2] = ReportImage(2, CONTROL, 0.97, "class 2", thumbnail(2, 32, 32)[:, :, 0])  # grey: made RGB
    least[0] = ReportImage(100, "image 100", 0.05, "class 0", thumbnail(7, 200, 150))  # larger: shrunk, not refused
    return ReportData(
        result=full_result() if result is None else result,
        marginal=q / q.sum(),
        class_names=names,
        confidence_histogram=ConfidenceHistogram(edges, counts),
        most_confident=most,
        least_confident=least,
    )


def embedded(text: str) -> list[bytes]:
    return [base64.b64decode(s) for s in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)]


def test_full_report(tmp_path: Path) -> None:
    data = full_data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to stderr: no glyph or mathtext warnings, no pyplot
        page = write_report(tmp_path / "new" / "dir", data)
    assert page == tmp_path / "new" / "dir" / REPORT_NAME
    text = page.read_text(encoding="utf-8")

    sizes = {name: (1800, 840) for name in FIGURES.values()} | {FIGURES["marginal"]: (1800, 1320)}  # 2x
    for name, size in sizes.items():
        with Image.open(page.parent / name) as im:
            im.load()
            assert im.format == "PNG" and im.size == size, name
    assert text.count('width="900" height="420"') == len(FIGURES) - 1  # shown at half size: sharp on HiDPI
    assert 'width="900" height="660"' in text

    result = data.result
    headline = f"{result['inception_score_mean']:.4f} ± {result['inception_score_std']:.4f}"
    assert headline in text
    assert "splits of 5000 images: smaller splits score lower" in text
    assert "&lt;script&gt;&amp;.png" in text and "<script" not in text.lower()
    assert "cougar &amp; &lt;puma&gt;" in text
    assert "bad\\xff-name.png" in text  # an undecodable byte of a path, shown, not dropped
    assert "evil\\x1b[2J\\x00.png" in text and "\x1b" not in text and "\x00" not in text
    assert not re.search(r"https?://|<link|<iframe|@import|url\(|@font-face", text)  # loads nothing

    visible = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", text)
    assert not any(key in visible for key in ("Reference set", "FID", "KID", "Recall"))  # not computed: not shown
    assert "<th>Precision</th><td>exact</td>" in text  # the run's arithmetic, not a precision metric

    pngs = embedded(text)
    assert len(pngs) == len(FIGURES)
    on_disk = {(page.parent / name).read_bytes() for name in FIGURES.values()}
    assert set(pngs) == on_disk
    assert not (page.parent / OPTIONAL_FIGURES["fid_infinity"]).exists()


def test_minimal_result_renders(tmp_path: Path) -> None:
    result = Result(
        inception_score_mean=1.0,
        inception_score_std=0.0,
        split_scores=[],
        num_images=0,
        splits=1,
        protocol="original",
        weights_sha256=None,
    )
    page = write_report(tmp_path, ReportData(result.to_dict()))
    text = page.read_text(encoding="utf-8")
    assert '<p class="headline">1.0000</p>' in text and "No warnings." in text  # one split: no spread
    assert "data:image/png;base64," not in text  # nothing to draw: a note for each figure instead
    assert text.count("not drawn") == len(FIGURES)
    for name in FIGURES.values():
        with Image.open(tmp_path / name) as im:
            assert im.size == (1800, 240)
            pixels = np.asarray(im.convert("L"))
        assert (pixels < 128).mean() > 0.002, name  # the note has text in it

    bare = {"inception_score_mean": None, "inception_score_std": None, "split_scores": [float("nan")]}
    assert "n/a ± n/a" in write_report(tmp_path / "bare", ReportData(bare)).read_text(encoding="utf-8")


def test_rerun_replaces_only_its_own_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    write_report(tmp_path, full_data(with_fid(full_result())))
    first = (tmp_path / FIGURES["splits"]).read_bytes()
    assert (tmp_path / OPTIONAL_FIGURES["fid_infinity"]).exists()

    result = full_result()
    result["split_scores"] = [s + 1.0 for s in result["split_scores"]]
    result["inception_score_mean"] += 1.0
    page = write_report(tmp_path, ReportData(result))

    assert f"{result['inception_score_mean']:.4f}" in page.read_text(encoding="utf-8")
    assert (tmp_path / FIGURES["splits"]).read_bytes() != first
    with Image.open(tmp_path / FIGURES["thumbnails"]) as im:  # no thumbnails this time: the old sheet is gone
        assert im.size == (1800, 240)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    # no FID this time: the earlier run's FID figure is gone too, and no temporary file is left
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([REPORT_NAME, "notes.txt", *FIGURES.values()])


def test_accepts_result_object(tmp_path: Path) -> None:
    result = Result(
        inception_score_mean=9.5,
        inception_score_std=0.1,
        split_scores=[9.4, 9.6],
        num_images=100,
        splits=2,
        protocol="original",
        weights_sha256="ab" * 32,
    )
    text = write_report(tmp_path, ReportData(result)).read_text(encoding="utf-8")
    assert "9.5000 ± 0.1000" in text and "ab" * 32 in text


def test_comparison_metrics_are_shown_when_present(tmp_path: Path) -> None:
    result_fields = {f.name for f in dataclasses.fields(Result)}
    assert set(with_fid({"is_infinity_fit": {"n": []}})) <= result_fields  # the names compute() returns
    page = write_report(tmp_path, full_data(with_fid(full_result())))
    text = page.read_text(encoding="utf-8")
    for row in (
        '<th>FID</th><td class="num">12.3456</td>',
        '<th>FID at infinite N</th><td class="num">11.9000</td>',
        '<th>KID</th><td class="num">0.00412 ± 0.00031</td>',
        '<th>sFID</th><td class="num">20.5000</td>',
        '<th>Precision</th><td class="num">0.7100</td>',
        "(k = 3)",
        '<th>Recall</th><td class="num">0.5500</td>',
        '<th>Density</th><td class="num">0.9800</td>',
        '<th>Coverage</th><td class="num">0.8300</td>',
    ):
        assert row in text, row
    assert "Reference set" in text and "cd" * 32 in text
    assert "/<wbr>ref/<wbr>&lt;b&gt;in&lt;/<wbr>b&gt;.npz" in text  # a path breaks after a separator only
    assert "<b>in</b>" not in text

    pngs = embedded(text)
    assert len(pngs) == len(FIGURES) + 1
    fid_figure = (tmp_path / OPTIONAL_FIGURES["fid_infinity"]).read_bytes()
    assert fid_figure in pngs and 'id="fid_infinity"' in text
    with Image.open(tmp_path / OPTIONAL_FIGURES["fid_infinity"]) as im:
        assert im.size == (1800, 840)


def test_a_broken_optional_figure_is_a_note(tmp_path: Path) -> None:
    result = full_result() | {"fid": 12.0, "fid_infinity": 11.0, "fid_infinity_fit": {"n": [1000]}}
    text = write_report(tmp_path, ReportData(result)).read_text(encoding="utf-8")
    assert "FID against 1/N: not drawn, FID∞ was not computed" in text
    with Image.open(tmp_path / OPTIONAL_FIGURES["fid_infinity"]) as im:
        assert im.size == (1800, 240)


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: ReportData({}, marginals=[0.5, 0.5]), TypeError, "marginals"),
        (lambda: ReportData({}, marginal=[0.5, 0.5], class_names=["a"]), ValueError, "1 names for 2 classes"),
        (lambda: ReportData({}, marginal=[[0.5, 0.5]]), ValueError, "shape (1, 2)"),
        (lambda: ReportData({}, marginal=[0.5, float("nan")]), ValueError, "marginal holds NaN"),
        (lambda: ReportData([1, 2]), ValueError, "ReportData.result is list"),
        (lambda: ConfidenceHistogram([0, 1], [1, 2]), ValueError, "2 edges and 2 counts"),
        (lambda: ConfidenceHistogram([1, 0], [1]), ValueError, "expected increasing edges"),
        (lambda: ReportData({}, confidence_histogram={"edges": [0, 1]}), ValueError, "keys ['edges']"),
        (lambda: ReportImage(3, "a.png", 0.5, "cat", np.zeros((8, 8, 3), np.float32)), ValueError, "float32 (8, 8, 3)"),
        (lambda: ReportImage(3, "a.png", 1.5, "cat"), ValueError, "confidence of image 3 is 1.5"),
        (lambda: ReportData({}, most_confident=[{"index": 0}]), ValueError, "most_confident[0] is dict"),
    ],
)
def test_bad_data_names_the_problem(make, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        make()


def test_not_report_data_is_refused_before_writing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=re.escape("write_report: data is dict; expected a ReportData")):
        write_report(tmp_path / "out", full_result())
    assert not (tmp_path / "out").exists()


def test_data_is_a_snapshot(tmp_path: Path) -> None:
    result = full_result()
    data = full_data(result)
    result["inception_score_mean"] = 0.0  # the caller's dict changes afterwards: the report does not
    assert data.result["inception_score_mean"] != 0.0
    with pytest.raises(TypeError):
        data.result["inception_score_mean"] = 0.0  # type: ignore[index]
    with pytest.raises(ValueError):
        data.marginal[0] = 1.0  # type: ignore[index]
    assert data.most_confident[2].thumbnail.shape == (32, 32, 3)  # grey made RGB


def test_figures_are_not_blank(tmp_path: Path) -> None:
    write_report(tmp_path, full_data(with_fid(full_result())))
    for name in [*FIGURES.values(), *OPTIONAL_FIGURES.values()]:
        with Image.open(tmp_path / name) as im:
            pixels = np.asarray(im.convert("RGB"))
        coloured = (pixels.max(axis=2) - pixels.min(axis=2) > 60).mean()  # bars, points, lines, thumbnails
        assert coloured > 0.001, name


def test_users_matplotlib_settings_neither_change_nor_leak(tmp_path: Path) -> None:
    import matplotlib

    write_report(tmp_path / "plain", full_data())
    style = {"figure.facecolor": "black", "axes.facecolor": "black", "font.size": 30, "text.usetex": True}
    with matplotlib.rc_context(style):  # a notebook's style; usetex would need LaTeX, absent here
        before = dict(matplotlib.rcParams)
        write_report(tmp_path / "styled", full_data())
        assert dict(matplotlib.rcParams) == before
    for name in FIGURES.values():
        assert (tmp_path / "styled" / name).read_bytes() == (tmp_path / "plain" / name).read_bytes(), name


def test_missing_matplotlib_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from inception_score.cli import main

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(OptionsError, match=re.escape(MISSING_EXTRA)):
        check_report_dependencies()
    with pytest.raises(OptionsError, match=re.escape(MISSING_EXTRA)):
        write_report(tmp_path / "lib", ReportData(full_result()))
    assert not (tmp_path / "lib").exists()

    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(thumbnail(0)).save(folder / "a.png")
    code = main([str(folder), "--report", str(tmp_path / "report")])
    err = capsys.readouterr().err
    assert code == 2
    assert err == f"inception-score: error: --{MISSING_EXTRA}\n"  # the flag as typed
    assert not (tmp_path / "report").exists()


def test_old_matplotlib_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", types.SimpleNamespace(__version__="3.5.3"))
    with pytest.raises(OptionsError, match=re.escape("report: needs matplotlib >= 3.7, found 3.5.3")):
        check_report_dependencies()


@pytest.mark.filterwarnings("ignore:.*images:")  # few images, small splits: not the point here
def test_report_data_from_a_run(tmp_path: Path, png_folder: Path, stand_in) -> None:
    from inception_score.options import Options
    from inception_score.report.result import build_result
    from inception_score.run.pipeline import run

    options = Options.from_kwargs(splits=2, progress=False, bootstrap=0, report=str(tmp_path / "report"))
    measurement = run(png_folder, options, network=stand_in)
    result = build_result(measurement)
    data = report_data(result, measurement)

    assert data.result["inception_score_mean"] == result.mean
    assert data.marginal.shape == (1008,) and data.marginal.sum() == pytest.approx(1.0)
    assert data.class_names == ()  # a stand-in network: its outputs are not the 2015 graph's classes
    assert int(data.confidence_histogram.counts.sum()) == 40
    for items in (data.most_confident, data.least_confident):
        assert len(items) == 8
        for item in items:
            assert Path(item.label).parent == png_folder and Path(item.label).exists()
            with Image.open(item.label) as im:  # the image itself, read back (32 x 32: not shrunk)
                assert np.array_equal(item.thumbnail, np.asarray(im.convert("RGB")))
            assert re.fullmatch(r"class \d+", item.class_name)
    confidences = [i.confidence for i in data.most_confident]
    assert confidences == sorted(confidences, reverse=True)
    assert data.most_confident[0].confidence >= data.least_confident[-1].confidence

    text = write_report(tmp_path / "report", data).read_text(encoding="utf-8")
    assert Path(data.most_confident[0].label).name in text


def test_a_distance_that_rounds_to_zero_is_never_shown_as_minus_zero(tmp_path: Path) -> None:
    result = Result(inception_score_mean=2.0, inception_score_std=0.1, split_scores=[1.9, 2.1], num_images=20,
                    splits=2, protocol="original", weights_sha256=None, metrics=["is", "fid", "kid"], fid=0.0,
                    fid_infinity=-2e-7, fd_dinov2=-1e-9, kid_mean=-2e-5, kid_std=1e-5)  # fmt: skip
    text = write_report(tmp_path, ReportData(result.to_dict())).read_text(encoding="utf-8")
    assert not re.search(r"-0\.0000(?!\d)", text) and text.count('<td class="num">0.0000</td>') == 3  # FID, FID_inf, FD
    assert '<td class="num">-0.00002 ± 0.00001</td>' in text  # KID below 0 is KID's (an unbiased estimate)
    assert "FD_DINOv2: 0.0000" in result.summary_lines()
