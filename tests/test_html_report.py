"""The HTML report: files written atomically beside a self-contained page, hostile text escaped,
every figure a readable PNG, and a result without its optional fields still rendered."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inception_score.report.html import FIGURES, REPORT_NAME, write_report
from inception_score.report.result import Result

HOSTILE = "/data/<script>&.png"


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
        "precision": "exact",
        "sources": ["/data/run-7", HOSTILE, "/data/bad\udcff-name.png"],
        "elapsed_s": 12.5,
        "num_skipped": 0,
    }


def full_extras() -> dict:
    q = np.random.default_rng(1).dirichlet(np.ones(1008))
    counts, edges = np.histogram(np.random.default_rng(2).beta(5, 1.5, 1000), bins=20, range=(0, 1))

    def items(first: int, confidence: float, step: float) -> list[dict]:
        return [
            {
                "index": first + k,
                "label": f"image {first + k}",
                "confidence": confidence + step * k,
                "class_name": f"class {k}",
                "thumbnail": thumbnail(first + k),
            }
            for k in range(6)
        ]

    most, least = items(0, 0.99, -0.01), items(100, 0.05, 0.01)
    most[1]["label"] = HOSTILE
    least[0]["thumbnail"] = thumbnail(7, 200, 150)  # larger than a thumbnail: shrunk, not refused
    return {
        "marginal": q.tolist(),
        "class_names": [f"name {i}, synonym" for i in range(1008)],
        "confidence_histogram": {"edges": edges.tolist(), "counts": counts.tolist()},
        "most_confident": most,
        "least_confident": least,
    }


def test_full_report(tmp_path: Path) -> None:
    result = full_result()
    page = write_report(tmp_path / "new" / "dir", result, full_extras())
    assert page == tmp_path / "new" / "dir" / REPORT_NAME
    text = page.read_text(encoding="utf-8")

    sizes = {name: (900, 420) for name in FIGURES.values()} | {FIGURES["marginal"]: (900, 660)}
    for name, size in sizes.items():
        with Image.open(page.parent / name) as im:
            im.load()
            assert im.format == "PNG" and im.size == size, name

    headline = f"{result['inception_score_mean']:.4f} ± {result['inception_score_std']:.4f}"
    assert headline in text
    assert "splits of 5000 images: smaller splits score lower" in text
    assert "&lt;script&gt;&amp;.png" in text and "<script" not in text.lower()
    assert "cougar &amp; &lt;puma&gt;" in text
    assert "bad\\xff-name.png" in text  # an undecodable byte of a path, shown, not dropped
    assert "http://" not in text and "https://" not in text

    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(embedded) == len(FIGURES)
    on_disk = {(page.parent / name).read_bytes() for name in FIGURES.values()}
    assert {base64.b64decode(data) for data in embedded} == on_disk


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
    page = write_report(tmp_path, result.to_dict(), {})
    text = page.read_text(encoding="utf-8")
    assert "1.0000 ± 0.0000" in text and "No warnings." in text
    assert "data:image/png;base64," not in text  # nothing to draw: a note for each figure instead
    assert text.count("not drawn") == len(FIGURES)
    for name in FIGURES.values():
        with Image.open(tmp_path / name) as im:
            assert im.size == (900, 120)

    bare = {"inception_score_mean": None, "inception_score_std": None, "split_scores": [float("nan")]}
    assert "n/a ± n/a" in write_report(tmp_path / "bare", bare, None).read_text(encoding="utf-8")


def test_rerun_replaces_only_its_own_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    write_report(tmp_path, full_result(), full_extras())
    first = (tmp_path / FIGURES["splits"]).read_bytes()

    result = full_result()
    result["split_scores"] = [s + 1.0 for s in result["split_scores"]]
    result["inception_score_mean"] += 1.0
    page = write_report(tmp_path, result, {})

    assert f"{result['inception_score_mean']:.4f}" in page.read_text(encoding="utf-8")
    assert (tmp_path / FIGURES["splits"]).read_bytes() != first
    with Image.open(tmp_path / FIGURES["thumbnails"]) as im:  # no thumbnails this time: the old sheet is gone
        assert im.size == (900, 120)
    assert (tmp_path / "notes.txt").read_text() == "mine"
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
    text = write_report(tmp_path, result).read_text(encoding="utf-8")
    assert "9.5000 ± 0.1000" in text and "ab" * 32 in text


@pytest.mark.parametrize(
    ("extras", "message"),
    [
        ({"marginals": [0.5, 0.5]}, "unknown key"),
        ({"marginal": [0.5, 0.5], "class_names": ["a"]}, "1 names for 2 classes"),
        ({"confidence_histogram": {"edges": [0, 1], "counts": [1, 2]}}, "2 edges and 2 counts"),
        ({"most_confident": [{"thumbnail": np.zeros((8, 8, 3), np.float32)}]}, "float32 (8, 8, 3)"),
    ],
)
def test_bad_extras_name_the_problem(tmp_path: Path, extras: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        write_report(tmp_path, full_result(), extras)
    assert not any(tmp_path.iterdir())  # refused before anything was written


def test_figures_are_not_blank(tmp_path: Path) -> None:
    write_report(tmp_path, full_result(), full_extras())
    for name in FIGURES.values():
        with Image.open(tmp_path / name) as im:
            pixels = np.asarray(im.convert("RGB"))
        coloured = (pixels.max(axis=2) - pixels.min(axis=2) > 60).mean()  # bars, points, lines, thumbnails
        assert coloured > 0.001, name
