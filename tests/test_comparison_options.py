"""The comparison metrics' options reach them, and shards of other comparisons never merge (issue 27)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import inception_score
from inception_score.cli import main
from inception_score.errors import InputError
from inception_score.features.preprocess import preprocess
from inception_score.metrics.manifold import density_coverage

from .conftest import PooledStandIn, make_images, write_images


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sets")
    write_images(root / "samples", make_images(8, (32, 32), seed=71))
    write_images(root / "real", make_images(9, (32, 32), seed=72))
    write_images(root / "other_real", make_images(9, (32, 32), seed=73))
    return {k: root / k for k in ("samples", "real", "other_real")}


def pool3(network: PooledStandIn, folder: Path) -> torch.Tensor:
    from PIL import Image

    images = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.iterdir())])
    with torch.no_grad():
        return network(preprocess(torch.from_numpy(images).permute(0, 3, 1, 2))).pool3


def test_the_prdc_k_flag_reaches_density_and_coverage(sets, monkeypatch, capsys) -> None:
    network, real = PooledStandIn(), inception_score.compute
    monkeypatch.setattr(inception_score, "compute", lambda sources, options: real(sources, options, network=network))
    code = main([str(sets["samples"]), "--ref", str(sets["real"]), "--metrics", "prdc", "--prdc-k", "2", "--json",
                 "--splits", "1", "--quiet"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    payload = json.loads(out)
    samples, reference = pool3(network, sets["samples"]), pool3(network, sets["real"])
    want = density_coverage(samples, reference, k=2)
    assert payload["prdc_k"] == 2
    assert (payload["density"], payload["coverage"]) == pytest.approx(want, abs=1e-12)
    assert density_coverage(samples, reference, k=5) != want  # k matters on these images: the flag is seen


def test_merge_refuses_shards_compared_with_other_references(sets, tmp_path: Path) -> None:
    def shard(i: int, ref: Path) -> str:
        path = tmp_path / f"{ref.name}-{i}.pt"
        inception_score.compute(sets["samples"], network=PooledStandIn(), ref=str(ref), metrics=("pr",),
                                shard=(i, 2), save_stats=str(path), splits=1, batch_size=4, progress=False)  # fmt: skip
        return str(path)

    first, second, second_other = shard(0, sets["real"]), shard(1, sets["real"]), shard(1, sets["other_real"])
    merged = inception_score.merge_stats([first, second])  # the same reference: one run's numbers
    assert merged.improved_precision is not None and merged.fid_reference["path"] == str(sets["real"])
    with pytest.raises(InputError, match=f"{second_other}: compared with another reference than {first}"):
        inception_score.merge_stats([first, second_other])
