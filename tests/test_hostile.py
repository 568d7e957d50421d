"""Hostile and broken files: each gives the documented message, or is scored as documented.

The corpus is built here from bytes; no binary blobs are stored in the repository.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import inception_score
from inception_score.cli import main
from inception_score.errors import InceptionScoreWarning, InputError
from inception_score.inputs.files import MAX_PIXELS, decode_image

from .conftest import make_images, write_images


def png_bytes(image: np.ndarray | Image.Image) -> bytes:
    buf = io.BytesIO()
    (image if isinstance(image, Image.Image) else Image.fromarray(image)).save(buf, format="PNG")
    return buf.getvalue()


def jpeg_bytes(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header announcing width x height pixels, with a tiny body."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


IMAGE = make_images(1, (24, 24), seed=99)[0]

BAD_FILES = {
    "zero-byte.png": (b"", "empty file (0 bytes)"),
    "truncated.png": (png_bytes(IMAGE)[:60], "truncated or corrupt image data"),
    "truncated.jpg": (jpeg_bytes(IMAGE)[:300], "truncated or corrupt image data"),
    "text.png": (b"just some text, not pixels\n", "not an image Pillow can read"),
    "bomb.png": (bomb_png(30_000, 30_000), "refused: more than"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_each_bad_file_fails_with_its_reason_and_is_skipped_in_skip_mode(name: str, tmp_path: Path, stand_in) -> None:
    folder = tmp_path / "corpus"
    write_images(folder, make_images(5, (24, 24), seed=1))
    content, reason = BAD_FILES[name]
    (folder / name).write_bytes(content)

    with pytest.raises(InputError) as err:
        inception_score.compute(folder, network=stand_in, splits=2, progress=False)
    assert str(err.value).startswith(f"{folder / name}: {reason}")
    assert "\n" not in str(err.value)

    with pytest.warns(InceptionScoreWarning) as warned:
        result = inception_score.compute(folder, network=stand_in, splits=2, progress=False, on_error="skip")
    assert result.num_images == 5 and result.num_skipped == 1
    assert result.skipped[0]["path"] == str(folder / name) and result.skipped[0]["reason"].startswith(reason)
    assert any(f"skipped {folder / name}: {reason}" in str(w.message) for w in warned)
    clean = inception_score.compute(sorted(folder.glob("img_*")), network=stand_in, splits=2, progress=False)
    assert result.split_scores == pytest.approx(clean.split_scores, rel=1e-6)  # as if the bad file were absent


def test_decompression_bomb_is_refused_quickly(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb_png(20_000, 20_000))  # 4e8 pixels > MAX_PIXELS, in 100 bytes
    assert 20_000 * 20_000 > MAX_PIXELS
    with pytest.raises(InputError, match="decompression bomb"):
        decode_image(path)


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    values = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I")
    image, _ = decode_image(path)
    assert image.shape == (3, 1, 4)
    assert image[0, 0].tolist() == [0, 1, 128, 255]  # convert("RGB") would give [0, 255, 255, 255]
    assert torch.equal(image[0], image[2])


def test_cmyk_jpeg_is_converted_like_pillow(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    Image.fromarray(IMAGE).convert("CMYK").save(path, quality=95)
    image, _ = decode_image(path)
    expected = np.asarray(Image.open(path).convert("RGB"))
    assert torch.equal(image, torch.from_numpy(expected).permute(2, 0, 1))


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animated_images_give_their_first_frame_with_a_warning(fmt: str, tmp_path: Path, stand_in) -> None:
    frames = [Image.new("RGB", (16, 16), color) for color in ((255, 0, 0), (0, 0, 255))]
    path = tmp_path / "anim" / f"moving.{fmt.lower()}"
    path.parent.mkdir()
    frames[0].save(path, format=fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    image, notes = decode_image(path)
    assert notes == ["animated"]
    assert image[0, 8, 8] > 200 and image[2, 8, 8] < 50  # red: the first frame
    with pytest.warns(InceptionScoreWarning, match="1 animated images"):
        inception_score.compute(path.parent, network=stand_in, splits=1, progress=False)


def test_wrong_extension_is_decoded_by_content(tmp_path: Path) -> None:
    path = tmp_path / "really_a_png.jpg"
    path.write_bytes(png_bytes(IMAGE))
    image, _ = decode_image(path)
    assert torch.equal(image, torch.from_numpy(IMAGE).permute(2, 0, 1))


def test_tiny_and_very_large_images(tmp_path: Path, stand_in) -> None:
    folder = tmp_path / "sizes"
    folder.mkdir()
    Image.new("RGB", (1, 1), (10, 200, 30)).save(folder / "a_tiny.png")
    Image.new("RGB", (10_000, 10_000), (90, 90, 90)).save(folder / "b_huge.png", compress_level=1)
    result = inception_score.compute(folder, network=stand_in, splits=1, progress=False)
    assert result.num_images == 2 and np.isfinite(result.mean)


def test_broken_symlink_and_symlink_loop(tmp_path: Path, stand_in) -> None:
    folder = tmp_path / "links"
    write_images(folder / "sub", make_images(3, (16, 16), seed=2))
    (folder / "sub" / "loop").symlink_to(folder)  # a loop under --recursive
    (folder / "dangling.png").symlink_to(tmp_path / "gone.png")
    with pytest.raises(InputError, match="dangling.png: broken symbolic link"):
        inception_score.compute(folder, network=stand_in, splits=1, progress=False, recursive=True)
    with pytest.warns(InceptionScoreWarning):
        result = inception_score.compute(
            folder, network=stand_in, splits=1, progress=False, recursive=True, on_error="skip"
        )
    assert result.num_images == 3 and result.num_skipped == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file(tmp_path: Path, stand_in) -> None:
    paths = write_images(tmp_path / "perm", make_images(2, (16, 16)))
    paths[0].chmod(0)
    with pytest.raises(InputError, match="permission denied"):
        inception_score.compute(tmp_path / "perm", network=stand_in, splits=1, progress=False)


def test_fifo_named_like_an_image_is_not_opened(tmp_path: Path, stand_in) -> None:
    folder = tmp_path / "fifo"
    write_images(folder, make_images(2, (16, 16)))
    os.mkfifo(folder / "pipe.png")  # opening it would block forever
    with pytest.raises(InputError, match="pipe.png: not a regular file"):
        inception_score.compute(folder, network=stand_in, splits=1, progress=False)


def test_all_files_bad_in_skip_mode(tmp_path: Path, stand_in) -> None:
    folder = tmp_path / "allbad"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"")
    (folder / "b.png").write_text("x")
    with pytest.warns(InceptionScoreWarning), pytest.raises(InputError, match="none of its 2 image files"):
        inception_score.compute(folder, network=stand_in, splits=1, progress=False, on_error="skip")


# ---------------------------------------------------------------- what a user sees on the command line


def test_cli_fail_and_skip_on_a_broken_corpus(tmp_path: Path, checkpoint_path: Path, capsys) -> None:
    folder = tmp_path / "corpus"
    write_images(folder, make_images(4, (24, 24), seed=3))
    for name, (content, _) in BAD_FILES.items():
        (folder / name).write_bytes(content)
    bad_name = os.fsdecode(bytes(folder) + b"/\xff-bad.png")
    Path(bad_name).write_bytes(b"")

    code = main([str(folder), "--weights", str(checkpoint_path), "--splits", "2", "--quiet"])
    out, err = capsys.readouterr()
    errors = [line for line in err.splitlines() if line.startswith("inception-score: error: ")]
    assert code == 3 and out == "" and len(errors) == 1 and "Traceback" not in err
    # metadata and headers are checked for every file, in order, before any work
    assert "bomb.png: refused: more than 178,956,970 pixels" in errors[0]

    code = main(
        [str(folder), "--weights", str(checkpoint_path), "--splits", "2", "--quiet", "--on-error", "skip", "--json"]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    payload = json.loads(out)
    assert payload["num_images"] == 4 and payload["num_skipped"] == len(BAD_FILES) + 1
    assert {Path(s["path"]).name for s in payload["skipped"]} >= set(BAD_FILES)
    assert err.count("inception-score: warning: skipped ") == len(BAD_FILES) + 2  # each file, then the total


def test_fail_mode_stops_before_any_scoring(tmp_path: Path, stand_in) -> None:
    paths = write_images(tmp_path / "f", make_images(6, (16, 16)))
    paths[5].write_text("not an image at all")  # the last file: found before the first batch runs
    calls: list[int] = []

    class Counting(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            calls.append(len(x))
            return stand_in(x)

    with pytest.raises(InputError, match="img_00005.png: not an image Pillow can read"):
        inception_score.compute(tmp_path / "f", network=Counting(), splits=1, progress=False, batch_size=2)
    assert calls == []  # refused before the network ran at all


def test_debug_shows_the_traceback(tmp_path: Path, capsys) -> None:
    (tmp_path / "e").mkdir()
    with pytest.raises(InputError):
        main([str(tmp_path / "e"), "--debug"])


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P", "1", "I;16"])
def test_fast_png_decoder_gives_the_pixels_pillow_gives(tmp_path: Path, mode: str) -> None:
    pytest.importorskip("pyspng")
    base = Image.fromarray(make_images(1, (37, 53), seed=7)[0])
    image = (
        Image.fromarray(np.arange(37 * 53, dtype=np.uint16).reshape(37, 53) * 30)
        if mode == "I;16"
        else base.convert(mode)
    )
    path = tmp_path / "x.png"
    image.save(path, optimize=False)
    got, _ = decode_image(path)
    from inception_score.inputs.files import _png_fast

    used = _png_fast(path.read_bytes()) is not None
    assert used == (mode in ("RGB", "RGBA", "L"))  # the rest goes to Pillow
    if mode == "I;16":
        return  # scaled, tested above
    expected = np.asarray(Image.open(path).convert("RGB"))
    assert torch.equal(got, torch.from_numpy(expected).permute(2, 0, 1))


@pytest.mark.parametrize(
    ("mode", "save", "fast"),
    [
        ("RGB", {}, True),
        ("RGB", {"subsampling": 0}, True),
        ("RGB", {"progressive": True}, True),
        ("L", {}, True),
        ("CMYK", {}, False),  # Pillow's CMYK conversion differs from libjpeg-turbo's: Pillow decodes
    ],
)
def test_fast_jpeg_decoder_gives_the_pixels_pillow_gives(tmp_path: Path, mode: str, save: dict, fast: bool) -> None:
    pytest.importorskip("simplejpeg")
    from inception_score.inputs.files import _jpeg_fast

    path = tmp_path / "x.jpg"
    Image.fromarray(make_images(1, (37, 53), seed=7)[0]).convert(mode).save(path, quality=90, **save)
    assert (_jpeg_fast(path.read_bytes()) is not None) == fast
    got, _ = decode_image(path)
    expected = np.asarray(Image.open(path).convert("RGB"))
    assert torch.equal(got, torch.from_numpy(expected).permute(2, 0, 1))


def test_fast_jpeg_decoder_refuses_a_truncated_file(tmp_path: Path) -> None:
    pytest.importorskip("simplejpeg")
    from inception_score.inputs.files import _jpeg_fast

    path = tmp_path / "cut.jpg"
    Image.fromarray(make_images(1, (64, 64), seed=3)[0]).save(path, quality=90)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert _jpeg_fast(path.read_bytes()) is None  # libjpeg's "premature end" is an error, not gray fill
    with pytest.raises(InputError, match=r"cut\.jpg: truncated"):
        decode_image(path)
