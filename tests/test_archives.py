"""Archives give the same result as the extracted folder, read without extracting."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import inception_score
from inception_score.errors import InputError
from inception_score.inputs.archives import ArchiveSource

from .conftest import make_images, write_images


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "images"
    write_images(path, make_images(14, (20, 20), seed=80))
    return path


def pack_tar(folder: Path, target: Path, mode: str = "w", reverse: bool = False, extras: bool = False) -> Path:
    with tarfile.open(target, mode) as tf:
        for path in sorted(folder.iterdir(), reverse=reverse):
            tf.add(path, arcname=f"{path.stem}.png")
            if extras:  # WebDataset: a label beside each image, same key
                data = b"7"
                info = tarfile.TarInfo(f"{path.stem}.cls")
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return target


def score(source, stand_in, **kw):
    kw = {"splits": 3, "batch_size": 4, "progress": False, **kw}
    return inception_score.compute(source, network=stand_in, **kw)


def test_tar_zip_and_webdataset_equal_the_folder(folder: Path, tmp_path: Path, stand_in) -> None:
    reference = score(folder, stand_in)
    zipped = tmp_path / "images.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        for path in sorted(folder.iterdir(), reverse=True):  # stored order does not matter for zip
            zf.write(path, arcname=f"sub/{path.name}")
    archives = [
        pack_tar(folder, tmp_path / "plain.tar", reverse=True),  # random access: sorted by name anyway
        pack_tar(folder, tmp_path / "packed.tar.gz", "w:gz"),
        pack_tar(folder, tmp_path / "wds-000.tar", extras=True),
        zipped,
    ]
    for archive in archives:
        result = score(archive, stand_in)
        assert result.num_images == 14, archive
        assert result.split_scores == reference.split_scores, archive


def test_ranges_of_a_streamed_archive(folder: Path, tmp_path: Path) -> None:
    source = ArchiveSource(pack_tar(folder, tmp_path / "s.tar.gz", "w:gz"))
    assert source.kind == "stream"
    batches = list(source.batches(4, start=5, stop=12))
    assert [b.indices.tolist() for b in batches] == [[5, 6, 7, 8], [9, 10, 11]]
    expected = torch.from_numpy(make_images(14, (20, 20), seed=80)[5:12]).permute(0, 3, 1, 2)
    assert torch.equal(torch.cat([b.images for b in batches]), expected)


def test_glob_of_shards_and_sharded_runs(folder: Path, tmp_path: Path, stand_in) -> None:
    images = sorted(folder.iterdir())
    for k in range(2):
        part = tmp_path / f"part{k}"
        part.mkdir()
        for path in images[k * 7 : (k + 1) * 7]:
            (part / path.name).write_bytes(path.read_bytes())
        pack_tar(part, tmp_path / f"shard-{k:03d}.tar")
    result = score(str(tmp_path / "shard-*.tar"), stand_in)
    assert result.sources == [str(tmp_path / "shard-000.tar"), str(tmp_path / "shard-001.tar")]
    # batches restart at each shard, so float32 logits differ in the last bits
    assert result.split_scores == pytest.approx(score(folder, stand_in).split_scores, rel=1e-9)


def test_archive_errors(folder: Path, tmp_path: Path, stand_in) -> None:
    unsorted = pack_tar(folder, tmp_path / "unsorted.tar.gz", "w:gz", reverse=True)
    with pytest.raises(InputError, match="not stored in name order; re-pack it sorted"):
        score(unsorted, stand_in)
    (tmp_path / "broken.tar").write_bytes(b"not a tar at all" * 40)
    with pytest.raises(InputError, match="broken.tar: not a readable tar or zip archive"):
        score(tmp_path / "broken.tar", stand_in)
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as zf:
        zf.writestr("a.png", b"this is not a png")
        zf.writestr("b.png", (folder / "img_00000.png").read_bytes())
    with pytest.raises(InputError, match=r"bad.zip:a.png: not an image Pillow can read"):
        score(tmp_path / "bad.zip", stand_in, splits=1)
    with zipfile.ZipFile(tmp_path / "none.zip", "w") as zf:
        zf.writestr("readme.txt", "hi")
    with pytest.raises(InputError, match="no images in the archive"):
        score(tmp_path / "none.zip", stand_in)


def test_archive_with_worker_processes(folder: Path, tmp_path: Path, stand_in) -> None:
    archive = pack_tar(folder, tmp_path / "w.tar")
    assert score(archive, stand_in, num_workers=2).split_scores == score(archive, stand_in).split_scores
    assert np.isfinite(score(archive, stand_in).mean)
