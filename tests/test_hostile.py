"""Hostile and broken files: each gives the documented message, or is scored as documented.

The corpus is built here from bytes; no binary blobs are stored in the repository.
"""

from __future__ import annotations

import io
import json
import os
import signal
import struct
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import inception_score
from inception_score.cli import main
from inception_score.errors import InceptionScoreWarning, InputError
from inception_score.inputs.files import MAX_PIXELS, decode_bytes, decode_image

from .conftest import make_images, torch_fidelity_image_by_image, write_images


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


ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
PNG_COLOUR = {1: 0, 2: 4, 3: 2, 4: 6}


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png16(samples: np.ndarray, interlace: bool = False, filters: tuple[int, ...] = (0, 1, 2, 3, 4)) -> bytes:
    """A 16-bit PNG of H x W x C samples (C = 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA), rows filtered
    in turn with each of ``filters`` (all five PNG filters by default), Adam7-interlaced if asked."""
    h, w, c = samples.shape
    bpp, raw, k = 2 * c, bytearray(), 0
    for x0, y0, dx, dy in ADAM7 if interlace else ((0, 0, 1, 1),):
        sub = samples[y0::dy, x0::dx]
        if sub.size == 0:
            continue
        rows = np.ascontiguousarray(sub.astype(">u2")).view(np.uint8).reshape(sub.shape[0], -1).astype(np.int64)
        prev = np.zeros(rows.shape[1], np.int64)
        for cur in rows:
            f = filters[k % len(filters)]
            k += 1
            left = np.concatenate([np.zeros(bpp, np.int64), cur[:-bpp]])
            upleft = np.concatenate([np.zeros(bpp, np.int64), prev[:-bpp]])
            if f == 0:
                pred = 0
            elif f == 1:
                pred = left
            elif f == 2:
                pred = prev
            elif f == 3:
                pred = (left + prev) // 2
            else:
                p = left + prev - upleft
                pa, pb, pc = abs(p - left), abs(p - prev), abs(p - upleft)
                pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prev, upleft))
            raw += bytes([f]) + ((cur - pred) % 256).astype(np.uint8).tobytes()
            prev = cur
    ihdr = struct.pack(">IIBBBBB", w, h, 16, PNG_COLOUR[c], 0, 0, int(interlace))
    idat = png_chunk(b"IDAT", zlib.compress(bytes(raw)))
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + idat + png_chunk(b"IEND", b"")


def lzw_encode(data: bytes) -> bytes:
    """TIFF LZW with 9-bit codes only (a Clear code before the table needs 10 bits; libtiff's own
    LZW, with wider codes, is read in a test through Pillow)."""

    def fresh() -> dict[bytes, int]:
        return {bytes([i]): i for i in range(256)}

    table, codes, w, nxt = fresh(), [256], b"", 258
    for byte in data:
        wc = w + bytes([byte])
        if wc in table:
            w = wc
            continue
        codes.append(table[w])
        if nxt >= 400:
            codes.append(256)
            table, nxt = fresh(), 258
        else:
            table[wc], nxt = nxt, nxt + 1
        w = bytes([byte])
    codes += [table[w], 257] if w else [257]
    bits = "".join(format(c, "09b") for c in codes)
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


def packbits_encode(data: bytes) -> bytes:
    out, i = bytearray(), 0
    while i < len(data):
        run = 1
        while i + run < len(data) and run < 128 and data[i + run] == data[i]:
            run += 1
        if run >= 3:
            out += bytes([257 - run, data[i]])
            i += run
        else:
            chunk = data[i : i + min(128, len(data) - i)]
            out += bytes([len(chunk) - 1]) + chunk
            i += len(chunk)
    return bytes(out)


def tiff16(
    samples: np.ndarray,
    compression: int = 1,
    predictor: int = 1,
    big: bool = False,
    planar: bool = False,
    rows_per_strip: int | None = None,
    tile: int | None = None,
) -> bytes:
    """A 16-bit TIFF of H x W x C samples, in strips of ``rows_per_strip`` rows or tiles of
    ``tile`` x ``tile`` pixels (a multiple of 16, padded with zeros)."""
    h, w, c = samples.shape
    e = ">" if big else "<"
    rps = rows_per_strip or h
    planes = [samples[:, :, [p]] for p in range(c)] if planar else [samples]
    blocks = []
    for plane in planes:
        if tile:
            padded = np.zeros((-(-h // tile) * tile, -(-w // tile) * tile, plane.shape[2]), np.int64)
            padded[:h, :w] = plane
            blocks += [padded[y : y + tile, x : x + tile] for y in range(0, h, tile) for x in range(0, w, tile)]
        else:
            blocks += [plane[top : top + rps].astype(np.int64) for top in range(0, h, rps)]
    compress = {1: bytes, 8: zlib.compress, 5: lzw_encode, 32773: packbits_encode}[compression]
    strips = []
    for block in blocks:
        block = block.copy()
        if predictor == 2:
            block[:, 1:] = (block[:, 1:] - block[:, :-1]) % 65536
        strips.append(compress(block.astype(e + "u2").tobytes()))
    counts = [len(data) for data in strips]
    entries = {256: (4, [w]), 257: (4, [h]), 258: (3, [16] * c), 259: (3, [compression])}
    entries |= {262: (3, [2 if c >= 3 else 1]), 277: (3, [c]), 284: (3, [2 if planar else 1]), 317: (3, [predictor])}
    if tile:
        entries |= {322: (4, [tile]), 323: (4, [tile]), 324: (4, [0] * len(strips)), 325: (4, counts)}
    else:
        entries |= {273: (4, [0] * len(strips)), 278: (4, [rps]), 279: (4, counts)}
    if c in (2, 4):
        entries[338] = (3, [2])  # unassociated alpha
    extra_at = 8 + 2 + 12 * len(entries) + 4
    sizes = [len(v) * (2 if t == 3 else 4) for t, v in entries.values()]
    first_data = extra_at + sum(size for size in sizes if size > 4)
    entries[324 if tile else 273] = (4, [first_data + sum(counts[:i]) for i in range(len(strips))])
    extras, ifd = b"", b""
    for tag in sorted(entries):
        kind, values = entries[tag]
        packed = struct.pack(e + ("H" if kind == 3 else "I") * len(values), *values)
        if len(packed) <= 4:
            ifd += struct.pack(e + "HHI", tag, kind, len(values)) + packed.ljust(4, b"\0")
        else:
            ifd += struct.pack(e + "HHII", tag, kind, len(values), extra_at + len(extras))
            extras += packed
    header = (b"MM\x00*" if big else b"II*\x00") + struct.pack(e + "I", 8)
    return header + struct.pack(e + "H", len(entries)) + ifd + struct.pack(e + "I", 0) + extras + b"".join(strips)


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


# 16-bit samples that tell the rule apart from the alternatives: rounding gives [1, 1, 127, 255];
# truncating v * 255 / 65535 gives [0, 0, 127, 254]; Pillow's high byte [0, 0, 127, 255].
SIXTEEN = np.array([129, 200, 32767, 65407], dtype=np.uint16)
ROUNDED = [1, 1, 127, 255]


def sixteen_bit(channels: int) -> np.ndarray:
    """2 x 4 x C samples: each channel holds the four values, in a different order per channel."""
    planes = [np.roll(SIXTEEN, k) for k in range(channels)]
    if channels in (2, 4):
        planes[-1] = np.full(4, 3000, np.uint16)  # alpha: dropped, as convert("RGB") drops it
    return np.stack([np.stack(planes, -1)] * 2)


def write_sixteen_bit(kind: str, path: Path) -> tuple[np.ndarray, Path]:
    gray, rgb, rgba = sixteen_bit(1), sixteen_bit(3), sixteen_bit(4)
    if kind == "png-gray (Pillow I;16)":
        Image.fromarray(gray[:, :, 0]).save(path.with_suffix(".png"))
        return gray, path.with_suffix(".png")
    data, samples, suffix = {
        "png-gray": (png16(gray), gray, ".png"),
        "png-gray-alpha": (png16(sixteen_bit(2)), sixteen_bit(2), ".png"),
        "png-rgb": (png16(rgb), rgb, ".png"),
        "png-rgba": (png16(rgba), rgba, ".png"),
        "png-rgb-interlaced": (png16(rgb, interlace=True), rgb, ".png"),
        "png-rgb-named-tif": (png16(rgb), rgb, ".tif"),
        "tiff-rgb": (tiff16(rgb), rgb, ".tif"),
        "tiff-rgb-big-endian-lzw": (tiff16(rgb, compression=5, big=True), rgb, ".tiff"),
        "tiff-rgba-deflate-predictor": (tiff16(rgba, compression=8, predictor=2), rgba, ".tif"),
        "tiff-rgb-packbits-planar": (tiff16(rgb, compression=32773, planar=True), rgb, ".tif"),
        "tiff-rgb-tiled": (tiff16(rgb, tile=16), rgb, ".tif"),
    }[kind]
    path = path.with_suffix(suffix)
    path.write_bytes(data)
    return samples, path


SIXTEEN_BIT_KINDS = [
    "png-gray (Pillow I;16)",
    "png-gray",
    "png-gray-alpha",
    "png-rgb",
    "png-rgba",
    "png-rgb-interlaced",
    "png-rgb-named-tif",
    "tiff-gray",
    "tiff-rgb",
    "tiff-rgb-big-endian-lzw",
    "tiff-rgba-deflate-predictor",
    "tiff-rgb-packbits-planar",
    "tiff-rgb-tiled",
]


@pytest.mark.parametrize("kind", SIXTEEN_BIT_KINDS)
def test_every_16_bit_image_is_rounded_to_8_bits_by_one_rule(kind: str, tmp_path: Path) -> None:
    if kind == "tiff-gray":
        samples, path = sixteen_bit(1), tmp_path / "x.tif"
        Image.fromarray(samples[:, :, 0]).save(path, compression="tiff_lzw")  # libtiff's encoder
    else:
        samples, path = write_sixteen_bit(kind, tmp_path / "x")
    image, _ = decode_image(path)
    channels = min(samples.shape[2], 3) if samples.shape[2] != 2 else 1
    expected = (samples[:, :, :channels].astype(np.int64) * 255 + 32767) // 65535
    expected = np.repeat(expected, 3 // channels, axis=2) if channels == 1 else expected
    assert image.permute(1, 2, 0).numpy().tolist() == expected.tolist()
    assert image[0, 0].tolist() == ROUNDED  # red holds 129, 200, 32767, 65407 in every kind
    decoded, _ = decode_bytes(path.read_bytes(), "member.png")  # archive members: the same rule
    assert torch.equal(decoded, image)


def test_pillow_alone_would_keep_the_high_byte_of_16_bit_rgb(tmp_path: Path) -> None:
    _, path = write_sixteen_bit("png-rgb", tmp_path / "x")
    assert Image.open(path).mode == "RGB"  # Pillow gives 8 bits: the high byte of each sample
    assert np.asarray(Image.open(path).convert("RGB"))[0, :, 0].tolist() == [0, 0, 127, 255]
    assert decode_image(path)[0][0, 0].tolist() == ROUNDED


@pytest.mark.parametrize("interlace", [False, True])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_16_bit_png_decoder_reads_every_filter_exactly(channels: int, interlace: bool, monkeypatch) -> None:
    from inception_score.inputs import wide

    rng = np.random.default_rng(channels)
    samples = rng.integers(0, 65536, (13, 11, channels), dtype=np.uint16)
    samples[3:6] = 40000  # flat rows, where the filters' predictions differ most from noise
    data = png16(samples, interlace=interlace)  # rows filtered with None, Sub, Up, Average, Paeth in turn
    got, animated = wide.decode_png16(data, MAX_PIXELS)
    assert np.array_equal(got, samples) and not animated
    if channels == 1:  # an independent decoder of the same bytes
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), samples[:, :, 0])
    monkeypatch.setattr(wide, "_png16_fast", lambda data: None)  # numpy only, as without pyspng
    assert np.array_equal(wide.decode_png16(data, MAX_PIXELS)[0], samples)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"big": True},
        {"compression": 8, "predictor": 2},
        {"compression": 5},
        {"compression": 5, "predictor": 2, "big": True, "rows_per_strip": 3},
        {"compression": 32773},
        {"compression": 8, "planar": True},
        {"tile": 16, "planar": True, "compression": 5, "predictor": 2},
        {"tile": 32, "compression": 8},
    ],
)
def test_16_bit_tiff_reader_reads_every_layout(options: dict) -> None:
    from inception_score.inputs.wide import tiff16_samples

    samples = np.random.default_rng(5).integers(0, 65536, (37, 21, 4), dtype=np.uint16)
    samples[2:4] = 1234
    for channels in (3, 4):
        with Image.open(io.BytesIO(tiff16(samples[:, :, :channels].copy(), **options))) as img:
            assert np.array_equal(tiff16_samples(img, MAX_PIXELS), samples[:, :, :channels])


@pytest.mark.parametrize("compression", ["tiff_lzw", "tiff_adobe_deflate", "packbits"])
def test_16_bit_tiff_reader_agrees_with_libtiff(compression: str) -> None:
    from inception_score.inputs.wide import tiff16_samples

    gray = np.random.default_rng(3).integers(0, 65536, (64, 64), dtype=np.uint16)  # LZW codes grow to 12 bits
    buf = io.BytesIO()
    Image.fromarray(gray).save(buf, format="TIFF", compression=compression)
    with Image.open(io.BytesIO(buf.getvalue())) as img:
        assert np.array_equal(tiff16_samples(img, MAX_PIXELS)[:, :, 0], gray)


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((4, 4), np.float32), "floating-point samples (Pillow mode F) have no agreed mapping to 8 bits"),
        (
            np.zeros((4, 4), np.int32),
            "32-bit or signed integer samples (Pillow mode I) have no agreed mapping to 8 bits",
        ),
    ],
)
def test_samples_wider_than_16_bits_are_refused(array: np.ndarray, message: str, tmp_path: Path) -> None:
    path = tmp_path / "wide.tif"
    Image.fromarray(array).save(path)
    with pytest.raises(InputError) as err:
        decode_image(path)
    assert str(err.value) == f"{path}: {message}; expected 8- or 16-bit unsigned samples"


def png16_with_idat(body: bytes) -> bytes:
    """The 16-bit RGB test image with its image data replaced by ``body`` (valid chunk CRCs)."""
    good = png16(sixteen_bit(3))
    return good[:33] + png_chunk(b"IDAT", body) + png_chunk(b"IEND", b"")


GOOD_PNG16 = png16(sixteen_bit(3))
BAD_PNG16 = {
    "cut": (GOOD_PNG16[:-30], "truncated or corrupt image data (the 'IDAT' chunk runs past the end of the file)"),
    "no IEND": (GOOD_PNG16[:-12], "truncated or corrupt image data (the file ends before the IEND chunk)"),
    "flipped": (
        GOOD_PNG16[:45] + bytes([GOOD_PNG16[45] ^ 1]) + GOOD_PNG16[46:],
        "truncated or corrupt image data (bad CRC in the 'IDAT' chunk)",
    ),
    "not zlib": (png16_with_idat(b"not zlib data"), "truncated or corrupt image data (corrupt compressed data"),
    "short": (png16_with_idat(zlib.compress(b"\x00" * 10)), "truncated or corrupt image data (truncated image data)"),
    "bomb": (bomb_png(30_000, 30_000)[:24] + b"\x10" + bomb_png(30_000, 30_000)[25:], "refused: more than"),
}


@pytest.mark.parametrize("kind", sorted(BAD_PNG16))
def test_broken_16_bit_png_is_refused_with_its_reason(kind: str, tmp_path: Path) -> None:
    data, reason = BAD_PNG16[kind]
    path = tmp_path / "deep.png"
    path.write_bytes(data)
    with pytest.raises(InputError) as err:
        decode_image(path)
    assert str(err.value).startswith(f"{path}: {reason}")


def test_cmyk_jpeg_is_converted_like_pillow(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    Image.fromarray(IMAGE).convert("CMYK").save(path, quality=95)
    image, _ = decode_image(path)
    expected = np.asarray(Image.open(path).convert("RGB"))
    assert torch.equal(image, torch.from_numpy(expected).permute(2, 0, 1))


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_animated_images_give_their_first_frame_with_a_warning(fmt: str, tmp_path: Path, stand_in) -> None:
    frames = [Image.new("RGB", (16, 16), color) for color in ((255, 0, 0), (0, 0, 255))]
    path = tmp_path / "anim" / f"moving.{fmt.lower()}"
    path.parent.mkdir()
    frames[0].save(path, format=fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    image, notes = decode_image(path)
    assert notes == ["animated"]
    assert image[0, 8, 8] > 200 and image[2, 8, 8] < 50  # red: the first frame
    with pytest.warns(InceptionScoreWarning, match="1 animated image \\(GIF"):
        inception_score.compute(path.parent, network=stand_in, splits=1, progress=False)


def test_wrong_extension_is_decoded_by_content(tmp_path: Path) -> None:
    path = tmp_path / "really_a_png.jpg"
    path.write_bytes(png_bytes(IMAGE))
    image, _ = decode_image(path)
    assert torch.equal(image, torch.from_numpy(IMAGE).permute(2, 0, 1))


def test_tiny_and_very_large_images_score_as_torch_fidelity(tmp_path: Path, checkpoint_path: Path) -> None:
    folder = tmp_path / "sizes"
    folder.mkdir()
    Image.new("RGB", (1, 1), (10, 200, 30)).save(folder / "a_tiny.png")
    blocks = np.random.default_rng(4).integers(0, 256, (10, 10, 3), dtype=np.uint8)
    huge = np.broadcast_to(blocks[:, None, :, None], (10, 1000, 10, 1000, 3)).reshape(10_000, 10_000, 3)
    Image.fromarray(huge).save(folder / "b_huge.png", compress_level=1)
    del huge
    result = inception_score.compute(folder, weights=str(checkpoint_path), splits=1, progress=False)
    assert result.num_images == 2
    assert result.mean == pytest.approx(
        torch_fidelity_image_by_image(folder, checkpoint_path, 1)["inception_score_mean"], rel=1e-6
    )


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


def test_unreadable_and_unreachable_files(tmp_path: Path, stand_in) -> None:
    paths = write_images(tmp_path / "perm", make_images(2, (16, 16)))
    blocked = paths[0].with_name("blocked.png")  # a path through a file: no one can open it, root neither
    listing = tmp_path / "list.txt"
    listing.write_text(f"{paths[1]}\n{paths[1]}/x.png\n")
    with pytest.raises(InputError) as err:
        inception_score.compute(f"@{listing}", network=stand_in, splits=1, progress=False)
    assert str(err.value) == f"{paths[1]}/x.png: not a directory"
    if os.geteuid() != 0:  # root reads files whatever their permissions
        blocked.write_bytes(paths[0].read_bytes())
        blocked.chmod(0)
        with pytest.raises(InputError, match="blocked.png: permission denied"):
            inception_score.compute(tmp_path / "perm", network=stand_in, splits=1, progress=False)


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail instead of hanging: what a FIFO opened for reading would do."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"still blocked after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize(
    ("name", "spec", "expected"),
    [
        ("x.npz", "{fifo}", "an .npz archive holding arr_0"),
        ("x.npy", "{fifo}", "an .npy file"),
        ("x.tar", "{fifo}", "a tar or zip archive of images"),
        ("x.tar.gz", "{fifo}", "a tar or zip archive of images"),
        ("x.zip", "{fifo}", "a tar or zip archive of images"),
        ("list.txt", "@{fifo}", "UTF-8 text with one image path per line"),
        ("shard-0.tar", "{folder}/shard-*.tar", "a tar or zip archive of images"),
    ],
)
def test_special_files_are_refused_before_they_are_opened(
    name: str, spec: str, expected: str, tmp_path: Path, stand_in
) -> None:
    fifo = tmp_path / name
    os.mkfifo(fifo)  # reading it would block forever: no one writes to it
    source = spec.format(fifo=fifo, folder=tmp_path)
    with deadline(20), pytest.raises(InputError) as err:
        inception_score.compute(source, network=stand_in, splits=1, progress=False)
    assert (
        str(err.value)
        == f"{'@' if spec.startswith('@') else ''}{fifo}: not a regular file (a FIFO); expected {expected}"
    )


@pytest.mark.parametrize("name", ["g.pt2", "g.pt", "gen.py"])
def test_special_model_files_are_refused_before_they_are_opened(name: str, tmp_path: Path) -> None:
    from inception_score.inputs.models import load_model

    fifo = tmp_path / name
    os.mkfifo(fifo)
    spec = f"{fifo}:sample" if name.endswith(".py") else str(fifo)
    with deadline(20), pytest.raises(InputError) as err:
        load_model(spec, "generator")
    if name.endswith(".py"):
        assert str(err.value) == f"{spec}: {fifo}: not a regular file (a FIFO); expected a Python file"
    else:
        assert str(err.value).startswith(f"{fifo}: not a regular file (a FIFO); expected a TorchScript file")


def test_fifo_in_a_list_file_or_glob_is_refused_by_name(tmp_path: Path, stand_in) -> None:
    write_images(tmp_path / "f", make_images(2, (16, 16)))
    os.mkfifo(tmp_path / "f" / "pipe.png")
    (tmp_path / "list.txt").write_text("f/img_00000.png\nf/pipe.png\n")
    for source in (f"@{tmp_path / 'list.txt'}", str(tmp_path / "f" / "*.png")):
        with deadline(20), pytest.raises(InputError) as err:
            inception_score.compute(source, network=stand_in, splits=1, progress=False)
        assert str(err.value) == f"{tmp_path / 'f' / 'pipe.png'}: not a regular file (a FIFO)"


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


SIXTEEN_BIT_SEEDS = {
    "png": png16(sixteen_bit(3)),
    "png-interlaced": png16(np.tile(sixteen_bit(4), (5, 3, 1)), interlace=True),
    "tif-lzw": tiff16(sixteen_bit(3), compression=5, predictor=2),
    "tif-tiled": tiff16(sixteen_bit(4), tile=16, planar=True),
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from(sorted(SIXTEEN_BIT_SEEDS)),
    cut=st.integers(0, 600),
    flips=st.lists(st.tuples(st.integers(0, 600), st.integers(0, 255)), max_size=6),
)
def test_mutated_16_bit_images_decode_or_fail_with_input_error(tmp_path: Path, kind: str, cut: int, flips) -> None:
    data = bytearray(SIXTEEN_BIT_SEEDS[kind])
    for pos, value in flips:
        data[pos % len(data)] = value
    data = data[: max(1, len(data) - cut % len(data))]
    path = tmp_path / f"mutant.{kind[:3]}"
    path.write_bytes(bytes(data))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow may warn about odd TIFF metadata
        try:
            image, _ = decode_image(path)
        except InputError as exc:
            assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)
        else:
            assert image.dtype == torch.uint8 and image.dim() == 3 and image.shape[0] == 3
