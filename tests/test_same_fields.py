"""Every reported field is the same for one process, torchrun with K ranks and K merged shards (issue 13.4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import inception_score

from .conftest import make_images, run_torchrun, write_images

RUN_ONLY = {"elapsed_s", "images_per_second", "final_s", "sources", "device", "batch_size", "warnings",
            "weights_source", "weights_path", "cache_hits", "cache_misses", "precision_check", "skipped",
            "num_skipped"}  # fmt: skip


def assert_same(got: object, want: object, where: str = "") -> None:
    """Equal, floats to 1e-9 relative (float64 sums in another order), everything else exactly.
    All three runs use one thread, as torchrun's ranks do: another thread count sums the
    convolutions in another order, which moves the logits of this chaotic random network by ~1e-6."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), where
        for key in want:
            assert_same(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_same(g, w, f"{where}[{i}]")
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12), where
    else:
        assert got == want, where


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("thirteen")
    images = make_images(13, (32, 32), seed=131)
    images[11] = images[2]  # a duplicate, and a class with two members: the near-duplicate fields are not empty
    write_images(root, images)
    return root


def test_one_process_ranks_and_shards_report_the_same_fields(
    folder: Path, checkpoint_path: Path, tmp_path: Path
) -> None:
    run = dict(weights=str(checkpoint_path), splits=2, batch_size=4, progress=False, bootstrap=30, seed=3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = inception_score.compute(folder, **run).to_dict()
        files = [str(tmp_path / f"s{i}.pt") for i in range(2)]
        for i, path in enumerate(files):
            inception_score.compute(folder, shard=(i, 2), save_stats=path, **run)
    finally:
        torch.set_num_threads(threads)
    assert single["near_duplicate_rate"] > 0 and single["within_class_spread"]
    merged = inception_score.merge_stats(files).to_dict()

    out = tmp_path / "ranks.json"
    script = (
        "import sys, torch, inception_score\n"
        f"r = inception_score.compute({str(folder)!r}, **{run!r})\n"
        f"if torch.distributed.get_rank() == 0:\n    open({str(out)!r}, 'w').write(r.to_json())\n"
    )
    (tmp_path / "run.py").write_text(script)
    done = run_torchrun([str(tmp_path / "run.py")], timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    ranks = json.loads(out.read_text())

    want = {k: v for k, v in single.items() if k not in RUN_ONLY}
    assert_same({k: v for k, v in merged.items() if k not in RUN_ONLY}, want, "merged")
    assert_same({k: v for k, v in ranks.items() if k not in RUN_ONLY}, want, "torchrun")
    diagnostics = [w for w in single["warnings"] if "little diversity" in w or "ordered by class" in w]
    assert [w for w in ranks["warnings"] if w in diagnostics] == diagnostics  # the same warnings, not rank 0's
