"""What can be scored, in which order, and the one-line errors for what cannot."""

from __future__ import annotations

import io
import os
import struct
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

from .conftest import make_images, torch_fidelity_image_by_image, write_images


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
    assert together.num_images == 20 and together.sources == [str(tmp_path / "a"), str(tmp_path / "b.npz")]
    # file order across sources, 5 images a split: a[0:5], a[5:10], a[10:12] + b[0:3], b[3:8]
    parts = [a[0:5], a[5:10], [a[10:12], b[0:3]], b[3:8]]
    expected = [score(part, stand_in, splits=1, protocol="original").mean for part in parts]
    assert together.split_scores == pytest.approx(expected, rel=1e-9)


def test_mixed_sizes_and_formats_in_one_folder_score_as_torch_fidelity(tmp_path: Path, checkpoint_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    for i, (size, fmt) in enumerate([((10, 10), "png"), ((300, 200), "bmp"), ((64, 64), "tif"), ((31, 77), "webp")]):
        Image.fromarray(make_images(1, size, seed=i)[0]).save(
            folder / f"{i}.{fmt}", **({"lossless": True} if fmt == "webp" else {})
        )
    # one image a batch, as the oracle (mixed sizes batched together: tests/test_parity.py): bit for bit
    result = inception_score.compute(folder, weights=str(checkpoint_path), splits=2, batch_size=1, progress=False)
    reference = torch_fidelity_image_by_image(folder, checkpoint_path, splits=2)
    assert result.num_images == 4
    assert result.mean == pytest.approx(reference["inception_score_mean"], rel=1e-12)
    assert result.std == pytest.approx(reference["inception_score_std"], rel=1e-9, abs=1e-12)


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
        (np.zeros((4, 32, 32, 32, 3), np.uint8), "expected 4 dims (N x H x W x 3 or N x 3 x H x W) or 3"),
        (np.zeros((4, 32, 32), np.uint8), "ambiguous: one 4 x 32 x 32 image (C x H x W), or 4 grayscale images"),
        (np.zeros((4, 32, 32, 4), np.uint8), "expected 3 colour channels"),
        (np.zeros((4, 32, 32, 3), np.int64), "expected uint8 in [0, 255] or float in [0, 1], got dtype int64"),
        (np.full((4, 8, 8, 3), 2.0, np.float32), "float values must lie in [0, 1] (image_range), got values in [2, 2]"),
        (np.full((4, 8, 8, 3), np.nan, np.float32), "contains NaN or inf"),
        (np.zeros((0, 8, 8, 3), np.uint8), "holds no images"),
        (torch.zeros(4, 2, 8, 8), "expected 3 colour channels"),
        (np.zeros((4, 8, 8, 4), np.uint8), "RGBA? drop the alpha channel"),
        (
            np.zeros((32, 32, 3), np.uint8),
            "(H x W x C), or 32 grayscale images of 32 x 3? For one image add a batch dimension, x[None]",
        ),
    ],
)
def test_wrong_array_shape_or_dtype(array, expected: str, stand_in) -> None:
    message = error_of(array, stand_in, splits=1)
    assert expected in message and "of shape" in message  # names the input


def test_grayscale_stacks_are_read_as_grayscale_images_by_one_rule(tmp_path: Path, stand_in) -> None:
    """N x H x W uint8 (torchvision's MNIST ``.data``): N grayscale images, each repeated to RGB as
    Pillow's convert("RGB") does, whether an array, a tensor or an .npz's arr_0 (issue 21 item 5)."""
    digits = make_images(6, (28, 28), seed=3)[..., 0]  # 6 x 28 x 28
    rgb = np.repeat(digits[..., None], 3, axis=-1)  # what the grayscale images are as RGB
    want = score(rgb, stand_in, splits=2).split_scores
    np.savez(tmp_path / "mnist.npz", digits)
    np.savez_compressed(tmp_path / "mnist_compressed.npz", digits)
    for source in (digits, torch.from_numpy(digits), tmp_path / "mnist.npz", tmp_path / "mnist_compressed.npz",
                   digits.astype(np.float32) / 255):  # fmt: skip
        assert score(source, stand_in, splits=2).split_scores == want, type(source)
    assert score(digits[:1], stand_in, splits=1).mean == score(rgb[:1], stand_in, splits=1).mean  # 1 x H x W


@pytest.mark.parametrize(
    ("shape", "readings"),
    [
        ((3, 28, 28), "one 3 x 28 x 28 image (C x H x W), or 3 grayscale images of 28 x 28"),
        ((4, 28, 28), "one 4 x 28 x 28 image (C x H x W), or 4 grayscale images of 28 x 28"),
        ((2, 28, 28), "one 2 x 28 x 28 image (C x H x W), or 2 grayscale images of 28 x 28"),
        ((28, 28, 3), "one 28 x 28 x 3 image (H x W x C), or 28 grayscale images of 28 x 3"),
        ((28, 28, 1), "one 28 x 28 x 1 image (H x W x C), or 28 grayscale images of 28 x 1"),
        ((3, 3, 3), "one 3 x 3 x 3 image (C x H x W) or one 3 x 3 x 3 image (H x W x C), or 3 grayscale images"),
    ],
)
def test_ambiguous_three_dim_shapes_are_refused_with_hints_that_work(shape, readings: str, tmp_path, stand_in) -> None:
    """A 3-dim shape that could also be one image (a first dim of 2-4 or a last dim of 1-4) is refused,
    for arrays, tensors and .npz files alike, naming both readings; each hint given then works."""
    x = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    np.savez(tmp_path / "x.npz", x)
    for source, stack_hint in ((x, "x[..., None] (N x H x W x 1)"), (torch.from_numpy(x), "x[:, None] (N x 1 x H x W)"),
                               (tmp_path / "x.npz", "x[..., None] (N x H x W x 1)")):  # fmt: skip
        message = error_of(source, stand_in, splits=1)
        assert f"shape {shape} is ambiguous: {readings}" in message, message
        hints = f"For one image add a batch dimension, x[None]; for grayscale images a channel dimension, {stack_hint}"
        assert hints in message, message
    gray = np.repeat(x[..., None], 3, axis=-1)  # the grayscale reading, as RGB
    assert score(x[..., None], stand_in, splits=1).mean == score(gray, stand_in, splits=1).mean  # numpy hint
    assert score(torch.from_numpy(x)[:, None], stand_in, splits=1).mean == score(gray, stand_in, splits=1).mean
    if shape[0] in (1, 3) or shape[-1] in (1, 3):  # the one-image hint, where that image is gray or RGB
        assert score(x[None], stand_in, splits=1).num_images == 1
    else:  # a 2- or 4-channel image: refused by the 4-dim rule, with its own hint
        assert "expected 3 colour channels" in error_of(x[None], stand_in, splits=1)


def test_npz_errors(tmp_path: Path, stand_in) -> None:
    np.savez(tmp_path / "named.npz", images=make_images(2))
    assert "expected an array named arr_0 (the ADM batch format), found arrays named 'images'" in error_of(
        tmp_path / "named.npz", stand_in
    )
    np.savez(tmp_path / "floats.npz", make_images(2).astype(np.float32))  # 0..255 as floats: the arrays' rule
    assert "float values must lie in [0, 1] (image_range), got values in [0, 255]; values in [0, 255]? pass uint8" in (
        error_of(tmp_path / "floats.npz", stand_in)
    )
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
    images = make_images(3)
    for i, img in enumerate(images):
        Image.fromarray(img).save(os.fsdecode(bytes(folder) + b"/\xff\xfe" + str(i).encode() + b".png"))
    result = score(folder, stand_in, splits=3, protocol="original")
    assert result.split_scores == score(images, stand_in, splits=3, protocol="original").split_scores


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
    assert error_of(f"@{tmp_path / 'missing.txt'}", stand_in) == (
        f"@{tmp_path / 'missing.txt'}: no such file; expected UTF-8 text with one image path per line"
    )


# ---------------------------------------------------------------- .npz / .npy: order and malformations


@pytest.mark.parametrize("save", ["npz", "npz-compressed", "npy"])
def test_fortran_ordered_arrays_score_as_c_ordered_ones(save: str, tmp_path: Path, stand_in) -> None:
    images = make_images(12, (16, 16), seed=31)
    fortran = np.asfortranarray(images)
    path = tmp_path / f"f.{save[:3]}"
    {"npz": np.savez, "npz-compressed": np.savez_compressed, "npy": np.save}[save](path, fortran)
    source = NpySource(path)
    assert source.fortran  # stored in Fortran order, as numpy.load reads it back
    got = torch.cat([b.images for b in source.batches(batch_size=5, start=2)])
    assert torch.equal(got, torch.from_numpy(images[2:]).permute(0, 3, 1, 2))
    result = score(path, stand_in, splits=3, batch_size=5)
    assert result.split_scores == score(images, stand_in, splits=3, batch_size=5).split_scores


def npy_bytes(header: dict | str, data: bytes = b"", magic: bytes = b"\x93NUMPY\x01\x00") -> bytes:
    """An .npy stream with an arbitrary header (a dict is written as numpy writes it)."""
    text = header if isinstance(header, str) else repr(header)
    text = text + " " * (-(len(magic) + 2 + len(text) + 1) % 64) + "\n"
    return magic + len(text).to_bytes(2, "little") + text.encode("latin-1") + data


def npz_bytes(member: bytes, method: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        zf.writestr("arr_0.npy", member)
    return buf.getvalue()


def u8(shape: tuple, fortran: bool = False, descr: str = "|u1") -> dict:
    return {"descr": descr, "fortran_order": fortran, "shape": shape}


SMALL = bytes(2 * 4 * 4 * 3)
MALFORMED_NPZ = {
    # name: (file bytes, the message after "<path>: ")
    "huge-shape.npz": (
        npz_bytes(npy_bytes(u8((10**12 // 48, 4, 4, 3)), SMALL)),
        "arr_0: the header declares shape (20833333333, 4, 4, 3) (999,999,999,984 bytes), but the file holds "
        "96 bytes of data; truncated or corrupt",
    ),
    "huge-shape-compressed.npz": (
        npz_bytes(npy_bytes(u8((10**12 // 48, 4, 4, 3)), SMALL), zipfile.ZIP_DEFLATED),
        "arr_0: the header declares shape (20833333333, 4, 4, 3) (999,999,999,984 bytes), but the file holds "
        "96 bytes of data; truncated or corrupt",
    ),
    "huge-shape.npy": (
        npy_bytes(u8((10**12 // 48, 4, 4, 3)), SMALL),
        "the header declares shape (20833333333, 4, 4, 3) (999,999,999,984 bytes), but the file holds 96 bytes "
        "of data; truncated or corrupt",
    ),
    "negative-shape.npz": (
        npz_bytes(npy_bytes(u8((-2, 4, 4, 3)), SMALL)),
        "arr_0: the header declares an impossible shape (-2, 4, 4, 3)",
    ),
    "huge-images.npy": (
        npy_bytes(u8((1, 20_000, 20_000, 3)), SMALL),
        "images of 20000 x 20000 pixels; refused: more than 178,956,970 pixels an image",
    ),
    "object-dtype.npz": (
        npz_bytes(npy_bytes(u8((2, 4, 4, 3), descr="|O"), SMALL)),
        "arr_0: holds Python objects (dtype object); expected N x H x W x 3 uint8",
    ),
    "int16-dtype.npy": (
        npy_bytes(u8((2, 4, 4, 3), descr="<i2"), SMALL * 2),
        "expected uint8 in [0, 255] or float in [0, 1], got dtype int16",
    ),
    "truncated-header.npz": (npz_bytes(npy_bytes(u8((2, 4, 4, 3)))[:30]), "arr_0: not a valid .npy array ("),
    "truncated-data.npy": (
        npy_bytes(u8((2, 4, 4, 3)), SMALL[:50]),
        "the header declares shape (2, 4, 4, 3) (96 bytes), but the file holds 50 bytes of data; truncated or corrupt",
    ),
    "bad-header.npy": (
        npy_bytes("{'descr': '|u1', 'shape': (2, 4, 4, 3)"),
        "not a valid .npy array (EOF in multi-line statement)",
    ),
    "wrong-magic.npy": (npy_bytes(u8((2, 4, 4, 3)), SMALL, magic=b"\x93NUMPX\x01\x00"), "not a valid .npy array ("),
    "version-9.npy": (
        npy_bytes(u8((2, 4, 4, 3)), SMALL, magic=b"\x93NUMPY\x09\x00"),
        "unsupported .npy format version 9.0",
    ),
    "empty.npy": (b"", "not a valid .npy array (EOF: reading magic string, expected 8 bytes got 0)"),
    "empty.npz": (b"", "not a readable .npz archive (File is not a zip file)"),
    "cut-directory.npz": (npz_bytes(npy_bytes(u8((2, 4, 4, 3)), SMALL))[:-10], "not a readable .npz archive ("),
    "not-a-zip.npz": (b"PK\x03\x04" + bytes(100), "not a readable .npz archive ("),
    "three-dims.npz": (
        npz_bytes(npy_bytes(u8((2, 4, 4)), SMALL[:32])),
        "shape (2, 4, 4) is ambiguous: one 2 x 4 x 4 image (C x H x W) or one 2 x 4 x 4 image (H x W x C)",
    ),
}


@pytest.mark.parametrize("name", sorted(MALFORMED_NPZ))
def test_malformed_npz_and_npy_give_one_line_naming_the_file(name: str, tmp_path: Path, stand_in) -> None:
    content, reason = MALFORMED_NPZ[name]
    path = tmp_path / name
    path.write_bytes(content)
    message = error_of(path, stand_in, splits=1)
    assert message.startswith(f"{path}: {reason}"), message


def test_compressed_arr_0_that_is_corrupt_or_shorter_than_declared(tmp_path: Path, stand_in) -> None:
    images = np.random.default_rng(0).integers(0, 256, (100, 32, 32, 3), dtype=np.uint8)  # incompressible
    np.savez_compressed(tmp_path / "good.npz", images)
    data = bytearray((tmp_path / "good.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the deflate stream, far after the header
    (tmp_path / "flipped.npz").write_bytes(bytes(data))
    message = error_of(tmp_path / "flipped.npz", stand_in, splits=1)
    assert message.startswith(f"{tmp_path / 'flipped.npz'}: arr_0 cannot be read: corrupt or truncated ("), message
    # the zip's directory declares more bytes than the deflate stream holds: the stream ends early
    member = npy_bytes(u8((100, 32, 32, 3)), images.tobytes())
    short = bytearray(npz_bytes(member[:-3072], zipfile.ZIP_DEFLATED))  # the last image is missing
    at = bytes(short).rindex(b"PK\x01\x02")
    struct.pack_into("<I", short, at + 24, len(member))  # uncompressed size, as if it were all there
    (tmp_path / "short.npz").write_bytes(bytes(short))
    message = error_of(tmp_path / "short.npz", stand_in, splits=1)
    assert message.startswith(f"{tmp_path / 'short.npz'}: arr_0 "), message


# ---------------------------------------------------------------- list files


def test_list_file_that_is_not_a_list_of_paths(tmp_path: Path, stand_in) -> None:
    write_images(tmp_path / "a", make_images(2))
    cases = {
        "binary.txt": (b"a/img_00000.png\nPK\x03\x04\x00\x00", "line 2 holds a NUL byte (binary data)"),
        "latin1.txt": ("a/img_00000.png\ncaf\xe9.png\n".encode("latin-1"), "line 2 is not valid UTF-8"),
        "long.txt": (b"x" * 70_000, "line 1 is longer than 65,536 bytes"),
        "empty.txt": (b"", "the list holds no paths; expected one image path per line"),
    }
    for name, (content, reason) in cases.items():
        (tmp_path / name).write_bytes(content)
        message = error_of(f"@{tmp_path / name}", stand_in)
        tail = "" if name == "empty.txt" else "; expected UTF-8 text with one image path per line"
        assert message == f"@{tmp_path / name}: {reason}{tail}"
    (tmp_path / "folder.txt").mkdir()
    assert error_of(f"@{tmp_path / 'folder.txt'}", stand_in) == (
        f"@{tmp_path / 'folder.txt'}: not a regular file (a folder); expected UTF-8 text with one image path per line"
    )


def test_list_file_with_a_byte_order_mark_and_windows_line_ends(tmp_path: Path, stand_in) -> None:
    images = make_images(3)
    write_images(tmp_path / "a", images)
    (tmp_path / "list.txt").write_bytes(b"\xef\xbb\xbfa/img_00002.png\r\na/img_00000.png\r\n  a/img_00001.png  \r\n")
    listed = score(f"@{tmp_path / 'list.txt'}", stand_in, splits=3, protocol="original")
    assert listed.split_scores == score(images[[2, 0, 1]], stand_in, splits=3, protocol="original").split_scores


# ---------------------------------------------------------------- the one float -> uint8 rule


def test_float_to_uint8_rounds_halves_up_and_inverts_u_over_255() -> None:
    from inception_score.inputs.base import float_to_uint8

    k = np.arange(255)
    u = np.arange(256)
    for dtype in (np.float32, np.float64):
        halves = torch.from_numpy(((k + 0.5) / 255).astype(dtype))
        assert float_to_uint8(halves).tolist() == (k + 1).tolist(), dtype  # every half goes up
        assert float_to_uint8(torch.from_numpy((u / 255).astype(dtype))).tolist() == u.tolist()
        tanh = torch.from_numpy((u / 127.5 - 1).astype(dtype))
        assert float_to_uint8(tanh, (-1.0, 1.0)).tolist() == u.tolist()
        tanh_halves = torch.from_numpy(((k + 0.5) / 127.5 - 1).astype(dtype))
        assert float_to_uint8(tanh_halves, (-1.0, 1.0)).tolist() == (k + 1).tolist()
        levels = torch.from_numpy(u.astype(dtype))
        assert float_to_uint8(levels, (0.0, 255.0)).tolist() == u.tolist()
        assert float_to_uint8(torch.from_numpy((k + 0.5).astype(dtype)), (0.0, 255.0)).tolist() == (k + 1).tolist()
        below = torch.from_numpy(((k + 0.499) / 255).astype(dtype))  # clearly below a half: down
        assert float_to_uint8(below).tolist() == k.tolist()


def test_arrays_generators_and_images_to_uint8_follow_the_one_rule() -> None:
    from inception_score.inputs.arrays import ArraySource, images_to_uint8
    from inception_score.inputs.generators import GeneratorSource

    k = np.arange(255)
    values = np.concatenate([(k + 0.5) / 255, np.arange(256) / 255]).astype(np.float32)  # 511 values
    expected = np.concatenate([k + 1, np.arange(256)])
    images = np.repeat(values[:, None, None, None], 3, axis=3)  # 511 images of 1 x 1 x 3 (N x H x W x C)
    as_array = torch.cat([b.images for b in ArraySource(images).batches(batch_size=100)])
    position = {"next": 0}

    def sample(n: int) -> np.ndarray:
        start = position["next"]
        position["next"] += n
        return images[start : start + n]

    as_generator = torch.cat([b.images for b in GeneratorSource(sample, 511).batches(100)])
    direct = images_to_uint8(torch.from_numpy(images), (0.0, 1.0), "x")
    for got in (as_array, as_generator, direct):
        assert got[:, 0, 0, 0].tolist() == expected.tolist()
