"""What can be scored, in which order, and the one-line errors for what cannot."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import inception_score
from inception_score.errors import InceptionScoreWarning, InputError, OptionsError
from inception_score.inputs.npz import NpySource
from inception_score.inputs.sources import open_source

from .conftest import make_images, write_images


def score(source, stand_in, **options):
    options.setdefault("progress", False)
    return inception_score.compute(source, network=stand_in, **options)


def test_folder_order_is_sorted_real_paths_and_extension_filter(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    for name in ["b.png", "a.PNG", "c.jpeg", "d.txt", "e.webp", "f.bmp", "g.tif"]:
        if name.endswith(".txt"):
            (folder / name).write_text("not an image")
        else:
            Image.new("RGB", (4, 4)).save(folder / name)
    (folder / "sub").mkdir()
    Image.new("RGB", (4, 4)).save(folder / "sub" / "z.png")
    with pytest.warns(InceptionScoreWarning, match="1 of 6 images are JPEGs"):
        src = open_source(folder)
    assert [Path(p).name for p in src.paths] == ["a.PNG", "b.png", "c.jpeg", "e.webp", "f.bmp", "g.tif"]
    with pytest.warns(InceptionScoreWarning):
        assert len(open_source(folder, recursive=True)) == 7


def test_grayscale_palette_and_rgba_are_converted_like_pillow(tmp_path: Path, stand_in) -> None:
    rgb = make_images(3, (24, 24), seed=1)
    folder = tmp_path / "modes"
    folder.mkdir()
    Image.fromarray(rgb[0]).convert("L").save(folder / "0.png")
    Image.fromarray(rgb[1]).convert("P").save(folder / "1.png")
    Image.fromarray(rgb[2]).convert("RGBA").save(folder / "2.png")
    expected = np.stack([np.asarray(Image.open(folder / f"{i}.png").convert("RGB")) for i in range(3)])
    assert score(folder, stand_in, splits=1).mean == pytest.approx(score(expected, stand_in, splits=1).mean, rel=1e-12)


def test_folder_npz_array_and_tensor_give_the_same_score(tmp_path: Path, stand_in) -> None:
    images = make_images(30, (32, 32), seed=2)
    write_images(tmp_path / "pngs", images)
    np.savez(tmp_path / "stored.npz", images, np.arange(30))  # ADM: arr_0 images, arr_1 labels
    np.savez_compressed(tmp_path / "compressed.npz", images)
    np.save(tmp_path / "plain.npy", images)
    reference = score(images, stand_in, splits=3, batch_size=7)
    assert reference.mean > 2.0
    for source in [
        tmp_path / "pngs",
        tmp_path / "stored.npz",
        tmp_path / "compressed.npz",
        tmp_path / "plain.npy",
        torch.from_numpy(images).permute(0, 3, 1, 2),
        torch.from_numpy(images),
        images.transpose(0, 3, 1, 2),
        images.astype(np.float32) / 255,
    ]:
        result = score(source, stand_in, splits=3, batch_size=7)
        assert result.mean == pytest.approx(reference.mean, rel=1e-12), source
        assert result.split_scores == pytest.approx(reference.split_scores, rel=1e-12)


def test_npz_is_read_without_loading_it_whole(tmp_path: Path) -> None:
    images = make_images(10, (8, 8), seed=3)
    np.savez(tmp_path / "stored.npz", images)
    np.savez_compressed(tmp_path / "compressed.npz", images)
    stored = NpySource(tmp_path / "stored.npz")
    assert isinstance(stored._memmap, np.memmap)  # mapped, not read
    compressed = NpySource(tmp_path / "compressed.npz")
    assert compressed._memmap is None  # streamed in order
    for src in (stored, compressed):
        got = torch.cat([b.images for b in src.batches(batch_size=4)])
        assert torch.equal(got, torch.from_numpy(images).permute(0, 3, 1, 2))


def test_several_sources_are_concatenated_in_order(tmp_path: Path, stand_in) -> None:
    a, b = make_images(12, (32, 32), seed=5), make_images(8, (16, 16), seed=6)
    write_images(tmp_path / "a", a)
    np.savez(tmp_path / "b.npz", b)
    together = score([tmp_path / "a", tmp_path / "b.npz"], stand_in, splits=4, protocol="original")
    resized = [np.asarray(Image.fromarray(x)) for x in b]
    assert together.num_images == 20 and together.sources[1].endswith("b.npz")
    # file order across sources: the first 5 images (split 0) are all from `a`
    alone = score(a[:5], stand_in, splits=1)
    assert together.split_scores[0] == pytest.approx(alone.mean, rel=1e-12)
    assert len(resized) == 8


def test_mixed_sizes_in_one_folder(tmp_path: Path, stand_in) -> None:
    folder = tmp_path / "mixed"
    for i, size in enumerate([(10, 10), (300, 200), (64, 64), (31, 77)]):
        write_images(folder, make_images(1, size, seed=i), start=i)
    assert score(folder, stand_in, splits=2, batch_size=3).num_images == 4


def test_float_inputs_are_rounded_not_truncated(stand_in) -> None:
    images = make_images(6, (16, 16), seed=8)
    floats = np.where(images > 0, (images - 0.4) / 255, 0.0)  # truncation would lose 1 almost everywhere
    assert score(floats, stand_in, splits=1).mean == pytest.approx(score(images, stand_in, splits=1).mean, rel=1e-12)


# ---------------------------------------------------------------- bad inputs: one clear line each


def error_of(source, stand_in, **options) -> str:
    with pytest.raises((InputError, OptionsError)) as err:
        score(source, stand_in, **options)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_missing_path(stand_in, tmp_path: Path) -> None:
    assert error_of(tmp_path / "nope", stand_in) == f"{tmp_path / 'nope'}: no such file or folder"


def test_empty_folder_and_folder_without_images(tmp_path: Path, stand_in) -> None:
    (tmp_path / "empty").mkdir()
    assert "no images found" in error_of(tmp_path / "empty", stand_in)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "readme.txt").write_text("hi")
    (tmp_path / "docs" / "sub").mkdir()
    write_images(tmp_path / "docs" / "sub", make_images(1))
    message = error_of(tmp_path / "docs", stand_in)
    assert str(tmp_path / "docs") in message and "--recursive" in message


def test_corrupt_image_names_the_file(tmp_path: Path, stand_in) -> None:
    paths = write_images(tmp_path / "f", make_images(4))
    paths[2].write_bytes(paths[2].read_bytes()[:40])  # truncated PNG
    message = error_of(tmp_path / "f", stand_in, splits=1)
    assert message.startswith(str(paths[2])) and "truncated or corrupt image data" in message
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "x.png").write_text("this is text")
    assert "not an image Pillow can read" in error_of(tmp_path / "g", stand_in, splits=1)


def test_corrupt_image_with_worker_processes_is_still_one_line(tmp_path: Path, stand_in) -> None:
    paths = write_images(tmp_path / "f", make_images(6))
    paths[4].write_bytes(b"")
    message = error_of(tmp_path / "f", stand_in, splits=1, num_workers=2, batch_size=2)
    assert message.startswith(str(paths[4]))


@pytest.mark.parametrize(
    "array,expected",
    [
        (np.zeros((4, 32, 32), np.uint8), "expected 4 dims"),
        (np.zeros((4, 32, 32, 4), np.uint8), "expected 3 colour channels"),
        (np.zeros((4, 32, 32, 3), np.int64), "expected uint8 in [0, 255] or float in [0, 1], got dtype int64"),
        (np.full((4, 8, 8, 3), 2.0, np.float32), "float values must lie in [0, 1] (image_range), got values in [2, 2]"),
        (np.full((4, 8, 8, 3), np.nan, np.float32), "contains NaN or inf"),
        (np.zeros((0, 8, 8, 3), np.uint8), "holds no images"),
        (torch.zeros(4, 2, 8, 8), "expected 3 colour channels"),
        (np.zeros((4, 8, 8, 4), np.uint8), "RGBA? drop the alpha channel"),
        (np.zeros((32, 32, 3), np.uint8), "one image? add a batch dimension"),
    ],
)
def test_wrong_array_shape_or_dtype(array, expected: str, stand_in) -> None:
    message = error_of(array, stand_in, splits=1)
    assert expected in message and "of shape" in message  # names the input


def test_npz_errors(tmp_path: Path, stand_in) -> None:
    np.savez(tmp_path / "named.npz", images=make_images(2))
    assert "expected an array named arr_0 (the ADM batch format), found images" in error_of(
        tmp_path / "named.npz", stand_in
    )
    np.savez(tmp_path / "floats.npz", make_images(2).astype(np.float32))
    assert "expected uint8, got dtype float32" in error_of(tmp_path / "floats.npz", stand_in)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    assert "not a readable .npz archive" in error_of(tmp_path / "bad.npz", stand_in)
    with zipfile.ZipFile(tmp_path / "junk.npz", "w") as zf:
        zf.writestr("arr_0.npy", b"garbage")
    assert "not a valid .npy array" in error_of(tmp_path / "junk.npz", stand_in)


def test_fewer_images_than_splits(stand_in) -> None:
    message = error_of(make_images(3), stand_in)
    assert message.startswith("splits: 10 splits need at least 10 images, got 3 images")


def test_unsupported_file_and_source_type(tmp_path: Path, stand_in) -> None:
    (tmp_path / "x.csv").write_text("1,2")
    assert "unsupported file type .csv" in error_of(tmp_path / "x.csv", stand_in)
    assert "expected a path, a numpy array or a torch tensor" in error_of(42, stand_in)


def test_non_utf8_file_names(tmp_path: Path, stand_in) -> None:
    folder = tmp_path / "names"
    folder.mkdir()
    for i, img in enumerate(make_images(3)):
        Image.fromarray(img).save(os.fsdecode(bytes(folder) + b"/\xff\xfe" + str(i).encode() + b".png"))
    assert score(folder, stand_in, splits=1).num_images == 3


def test_glob_patterns_and_list_files(tmp_path: Path, stand_in) -> None:
    images = make_images(9, (16, 16), seed=70)
    write_images(tmp_path / "a", images[:4])
    write_images(tmp_path / "b" / "deep", images[4:], start=4)
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    everything = score(str(tmp_path / "**" / "*.png"), stand_in, splits=3, protocol="original")
    assert everything.num_images == 9
    assert everything.split_scores == pytest.approx(score(images, stand_in, splits=3, protocol="original").split_scores)

    listing = tmp_path / "list.txt"
    lines = ["# the last image first", "b/deep/img_00008.png", "", *[f"a/img_{i:05d}.png" for i in range(4)]]
    listing.write_text("\n".join(lines))
    listed = score(f"@{listing}", stand_in, splits=5, protocol="original")
    order = [8, 0, 1, 2, 3]
    assert listed.split_scores == pytest.approx(
        score(images[order], stand_in, splits=5, protocol="original").split_scores
    )

    assert "no image files or archives match this pattern" in error_of(str(tmp_path / "*.jpg"), stand_in)
    (tmp_path / "empty.txt").write_text("# nothing\n")
    assert "the list holds no paths" in error_of(f"@{tmp_path / 'empty.txt'}", stand_in)
    assert "cannot read the list of images" in error_of(f"@{tmp_path / 'missing.txt'}", stand_in)
