"""--cache: a second run computes nothing; a changed image is recomputed, alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import inception_score
from inception_score.errors import OptionsError

from .conftest import make_images, write_images


def test_second_run_computes_nothing_and_one_changed_file_is_recomputed(tmp_path: Path, checkpoint_path: Path) -> None:
    images = make_images(5, (24, 24), seed=90)
    paths = write_images(tmp_path / "f", images)
    run = dict(weights=str(checkpoint_path), splits=1, progress=False, cache=str(tmp_path / "cache"), bootstrap=0)

    first = inception_score.compute(tmp_path / "f", **run)
    assert (first.cache_hits, first.cache_misses) == (0, 5)
    second = inception_score.compute(tmp_path / "f", **run)
    assert (second.cache_hits, second.cache_misses) == (5, 0)
    assert second.mean == pytest.approx(first.mean, rel=1e-6)
    assert "cache: 5 images reused, 0 computed" in second.summary()

    changed = images[2].copy()
    changed[:8] = 255 - changed[:8]
    Image.fromarray(changed).save(paths[2])
    third = inception_score.compute(tmp_path / "f", **run)
    assert (third.cache_hits, third.cache_misses) == (4, 1)
    fresh = inception_score.compute(tmp_path / "f", **{**run, "cache": None})
    assert third.mean == pytest.approx(fresh.mean, rel=1e-6)

    np.savez(tmp_path / "same.npz", np.stack([*images[:2], changed, *images[3:]]))
    same_pixels = inception_score.compute(tmp_path / "same.npz", **run)
    assert (same_pixels.cache_hits, same_pixels.cache_misses) == (5, 0)  # keyed by pixels, not files

    fast = inception_score.compute(tmp_path / "f", **{**run, "precision": "fast"})
    assert fast.cache_misses == 5  # another precision, another namespace
    assert not list((tmp_path / "cache").rglob("*.tmp"))


def test_cache_needs_the_inception_network(tmp_path: Path, stand_in) -> None:
    with pytest.raises(OptionsError, match="only for the Inception network"):
        inception_score.compute(make_images(3), network=stand_in, splits=1, progress=False, cache=str(tmp_path))
