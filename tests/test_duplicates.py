"""Gaming and collapse: planted duplicates are found; one image per class is flagged."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import inception_score
from inception_score.features.network import InceptionOutput
from inception_score.metrics.near_duplicates import NearDuplicates, collapse_warning

from .conftest import make_images


def fed(features: torch.Tensor, classes: torch.Tensor, num_classes: int, batch: int = 64, **kw) -> NearDuplicates:
    """A NearDuplicates accumulator fed with pool3 ``features`` of images of top-1 class ``classes``."""
    stats = NearDuplicates(len(features), num_classes, feature_dim=features.shape[1], **kw)
    logits = torch.nn.functional.one_hot(classes, num_classes).float() * 10
    for lo in range(0, len(features), batch):  # any batching
        hi = min(lo + batch, len(features))
        stats.update(InceptionOutput(logits_unbiased=logits[lo:hi], pool3=features[lo:hi]), np.arange(lo, hi))
    return stats


def top(*classes: int) -> dict:
    return {"top_classes": [{"index": c} for c in classes]}


def test_planted_duplicates_are_found_exactly() -> None:
    rng = torch.Generator().manual_seed(0)
    base = torch.randn(40, 64, generator=rng)
    features = torch.cat([base, base[:10] * 3.0 + 1e-4 * torch.randn(10, 64, generator=rng)])  # 10 twins
    stats = fed(features, torch.arange(50) % 5, 5, batch=7)
    fields = stats.fields(top(0, 1))
    assert fields["near_duplicate_rate"] == pytest.approx(20 / 50)
    assert fields["near_duplicate_sample"] == 50
    assert sorted(tuple(p[:2]) for p in fields["near_duplicate_pairs"]) == [(i, 40 + i) for i in range(10)]


def test_sample_limit_is_respected() -> None:
    stats = fed(torch.randn(50, 8), torch.zeros(50, dtype=torch.long), 2, limit=30)
    assert stats.fields(top(0))["near_duplicate_sample"] == 30


def test_one_image_per_class_is_flagged_as_gaming() -> None:
    rng = torch.Generator().manual_seed(1)
    prototypes = torch.randn(10, 32, generator=rng)
    classes = torch.arange(200) % 10
    stats = fed(prototypes[classes] + 1e-3 * torch.randn(200, 32, generator=rng), classes, 10)
    fields = stats.fields(top(*range(10)))
    assert all(s["spread"] < 0.01 for s in fields["within_class_spread"])
    assert "games the score" in collapse_warning(fields, score=9.5)

    varied = fed(torch.randn(200, 32, generator=rng), classes, 10)
    fields = varied.fields(top(*range(10)))
    assert all(s["spread"] > 0.5 for s in fields["within_class_spread"])
    assert collapse_warning(fields, score=9.5) is None


def test_repeated_images_through_the_network(tmp_path: Path, checkpoint_path: Path) -> None:
    images = make_images(4, (32, 32), seed=140)
    repeated = np.concatenate([images, images[:2]])  # 2 duplicated images -> 4 of 6 have a twin
    result = inception_score.compute(repeated, weights=str(checkpoint_path), splits=1, progress=False, bootstrap=0)
    assert result.near_duplicate_rate == pytest.approx(4 / 6)
    assert sorted(p[:2] for p in result.near_duplicate_pairs) == [[0, 4], [1, 5]]
    assert "near-duplicates (pool3 cosine >= 0.98): 66.7% of 6 images" in result.summary()


def test_report_from_a_small_folder(tmp_path: Path, checkpoint_path: Path) -> None:
    from PIL import Image

    from .conftest import write_images

    write_images(tmp_path / "imgs", make_images(12, (32, 32), seed=141))
    result = inception_score.compute(
        tmp_path / "imgs", weights=str(checkpoint_path), splits=3, progress=False, report=str(tmp_path / "report")
    )
    html = (tmp_path / "report" / "report.html").read_text()
    assert f"{result.mean:.4f}" in html and "data:image/png;base64," in html
    # The thumbnails name their files: each row's image index and file agree (sorted: i -> img_i.png).
    rows = re.findall(
        r'<tr><td>(most|least) confident</td><td class="num">(\d+)</td><td class="num">(\d+)</td>'
        r"<td><code>([^<]*)</code></td><td>[^<]*</td><td class=\"num\">([0-9.]+)</td></tr>",
        html,
    )
    assert [(kind, int(k)) for kind, k, *_ in rows] == [("most", k) for k in range(1, 9)] + [
        ("least", k) for k in range(1, 9)
    ]  # 8 most and 8 least confident of 12
    folder = str((tmp_path / "imgs").resolve()) + os.sep
    assert f"Files in <code>{folder.replace('/', '/<wbr>')}</code>" in html  # the folder once, then the names
    for _, _, index, label, _ in rows:
        assert label == f"img_{int(index):05d}.png", (index, label)
    most = [float(row[4]) for row in rows[:8]]
    least = [float(row[4]) for row in rows[8:]]
    assert most == sorted(most, reverse=True) and least == sorted(least) and most[0] >= least[-1]
    pngs = sorted((tmp_path / "report").glob("*.png"))
    assert len(pngs) == 6
    for png in pngs:
        with Image.open(png) as figure:
            assert figure.width >= 400
