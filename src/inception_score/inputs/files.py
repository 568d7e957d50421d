"""Image files: which files of a folder are scored, and decoding one file (or archive member) to uint8 RGB.

A metric tool runs unattended on folders made by someone else's code, so every way a file can
be wrong ends in :class:`~inception_score.errors.InputError` with a reason a person can act on,
never a crash, a hang or a silently wrong image:

* listing: regular files with an image extension (any case); symbolic links to files are
  followed (their real path is what is sorted, as torch-fidelity does), links to folders are
  not (as torch-fidelity's ``os.walk``), so a link loop cannot hang a recursive run;
* opening: only regular files (:func:`~.opening.open_regular`: a FIFO, socket or device named
  ``x.png`` is refused from its metadata, never opened for a blocking read);
* decoding: Pillow, then ``convert("RGB")`` as torch-fidelity does, except where that would be
  wrong: images with **16-bit samples** (PNG of any colour type, TIFF gray, gray + alpha, RGB,
  RGBA) are all mapped to 8 bits by one rule, ``(v * 255 + 32767) // 65535`` (nearest level,
  :mod:`.wide`; Pillow alone would keep the high byte of 16-bit RGB and clip 16-bit gray to
  white); wider or signed samples (32-bit integer, float) are refused; animated GIF/WebP/PNG give
  their first frame with a note;
* refusals: empty files, broken links, text with an image extension, truncated data, images
  over :data:`MAX_PIXELS` (a decompression bomb: a few KB that decode to gigabytes), and files
  or archive members over :data:`MAX_IMAGE_BYTES` (more than any image within the pixel limit
  can take, uncompressed).

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "empty.png"
    >>> _ = path.write_bytes(b"")
    >>> decode_image(path)
    Traceback (most recent call last):
    ...
    inception_score.errors.InputError: ...empty.png: empty file (0 bytes)
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import InputError
from .opening import one_line, open_regular, regular_file_problem
from .wide import (
    CorruptImage,
    UnsupportedImage,
    decode_png16,
    png_bit_depth,
    samples_to_rgb,
    scale_to_uint8,
    tiff16_samples,
)

__all__ = [
    "IMAGE_EXTENSIONS",
    "LOSSY_EXTENSIONS",
    "MAX_PIXELS",
    "list_images",
    "decode_image",
    "decode_bytes",
    "check_file",
    "check_header",
    "header_problem",
    "MAX_IMAGE_BYTES",
    "HEADER_BYTES",
]

IMAGE_EXTENSIONS = ("png", "jpg", "jpeg", "bmp", "webp", "tif", "tiff", "gif")
LOSSY_EXTENSIONS = ("jpg", "jpeg")
# Pillow's own refusal threshold (2 x Image.MAX_IMAGE_PIXELS): a 10000 x 10000 image (1e8 pixels,
# 300 MB as RGB) is scored; a 20000 x 20000 one is refused.
MAX_PIXELS = 2 * 89_478_485
# The most an image within MAX_PIXELS takes uncompressed (16-bit RGBA: 8 bytes a pixel), plus
# 16 MiB of metadata: a larger file or archive member is refused before it is read (1.45 GB).
MAX_IMAGE_BYTES = 8 * MAX_PIXELS + (1 << 24)
HEADER_BYTES = 1 << 16  # what is read of an archive member to check its size before the rest


def list_images(folder: Path, recursive: bool) -> list[str]:
    """Real paths of the image files in ``folder`` (and sub-folders if ``recursive``), sorted."""
    paths: list[str] = []
    pending = [os.fspath(folder)]
    while pending:
        directory = pending.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError as exc:
            raise InputError(
                f"{os.fsdecode(directory)}: cannot list folder ({one_line(exc.strerror or exc)})"
            ) from None
        for entry in entries:
            # follow_symlinks=False for folders: links to folders are not followed (no loops).
            if entry.is_dir(follow_symlinks=False):
                if recursive:
                    pending.append(entry.path)
                continue
            if os.path.splitext(entry.name)[1][1:].lower() in IMAGE_EXTENSIONS:
                if entry.is_symlink() and os.path.isdir(entry.path):
                    continue  # a link to a folder that happens to be named like an image
                real = os.path.realpath(entry.path)
                # A broken link keeps its own name, so that the error names what the user sees.
                paths.append(real if os.path.exists(real) else os.path.abspath(entry.path))
    return sorted(paths)  # torch-fidelity: sorted real paths


def check_file(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` cannot be an image, from its metadata alone (cheap), or None."""
    problem = regular_file_problem(path)
    if problem:
        return problem
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        return one_line(exc.strerror or exc)
    if size == 0:
        return "empty file (0 bytes)"
    if size > MAX_IMAGE_BYTES:
        return _too_many_bytes(size)
    if not os.access(path, os.R_OK):
        return "permission denied"
    return None


def _too_many_bytes(size: int) -> str:
    return (
        f"refused: {size:,} bytes, more than any image within {MAX_PIXELS:,} pixels takes "
        f"({MAX_IMAGE_BYTES:,} bytes; a decompression bomb?)"
    )


_SIGNATURES = {
    b"\x89PNG": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"GIF8": "GIF",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
}


def _sniff_bytes(head: bytes) -> str | None:
    """The image format the first bytes announce, if any."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return next((fmt for magic, fmt in _SIGNATURES.items() if head.startswith(magic)), None)


def check_header(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` cannot be an image, from its metadata and its header (Pillow reads the header
    only: ~50 us a file), or None. Truncated pixel data is found only by decoding."""
    problem = check_file(path)
    if problem:
        return problem
    try:
        with open_regular(path, os.fsdecode(path), "an image file") as f:
            head = f.read(16)
            f.seek(0)
            return _header_problem(f, lambda: _sniff_bytes(head))
    except InputError as exc:
        return str(exc).split(": ", 1)[-1]
    except OSError as exc:
        return one_line(exc.strerror or exc)


def header_problem(head: bytes) -> str | None:
    """Why the image whose first bytes are ``head`` cannot be decoded within the limits, judging by
    its header, or None (also when ``head`` is too short to tell: decoding will)."""
    problem = _header_problem(io.BytesIO(head), lambda: _sniff_bytes(head))
    return problem if problem and problem.startswith("refused") else None


def _header_problem(source: Any, sniff: Any) -> str | None:
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(source) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise Image.DecompressionBombError(img.size)
    except Exception as exc:  # Pillow raises many types (OSError, SyntaxError, ValueError, ...)
        return _reason(exc, sniff)
    return None


def _reason(exc: BaseException, sniff: Any) -> str:
    from PIL import Image, UnidentifiedImageError

    if isinstance(exc, Image.DecompressionBombError):
        return f"refused: more than {MAX_PIXELS:,} pixels (a decompression bomb?)"
    if isinstance(exc, UnsupportedImage):
        return one_line(exc)
    if isinstance(exc, UnidentifiedImageError):
        fmt = sniff()
        if fmt:
            return f"truncated or corrupt image data (starts like a {fmt} file, but Pillow cannot read it)"
        return "not an image Pillow can read (text or another format with an image extension?)"
    if isinstance(exc, PermissionError):
        return "permission denied"
    text = one_line(exc)
    if "truncated" in text.lower() or isinstance(exc, (EOFError, SyntaxError, CorruptImage)):
        return f"truncated or corrupt image data ({text})"
    return f"cannot decode image ({text})"


_WIDE_UNSIGNED = ("I;16", "I;16L", "I;16B", "I;16N")  # Pillow's modes of unsigned 16-bit gray


def _to_rgb_array(img: Any) -> np.ndarray:  # img: PIL.Image.Image (Pillow is imported lazily)
    """H x W x 3 uint8 by the rule in the module docstring."""
    bits = 8
    if img.format == "TIFF":
        declared = img.tag_v2.get(258, (1,))
        declared = declared if isinstance(declared, tuple) else (declared,)
        bits = max((int(b) for b in declared), default=8)
        samples = img.tag_v2.get(277, 1)
        samples = int(samples[0] if isinstance(samples, tuple) else samples)
        if bits > 8 and samples > 1:  # Pillow would keep the high byte of each sample
            return samples_to_rgb(scale_to_uint8(tiff16_samples(img, MAX_PIXELS), 16))
    if img.mode in _WIDE_UNSIGNED:
        depth = bits if 8 < bits <= 16 else 16  # a 12-bit TIFF comes as I;16 holding 0..4095
        return samples_to_rgb(scale_to_uint8(np.asarray(img), depth))
    if img.mode in ("I", "F") or img.mode.startswith("I;"):
        kind = "floating-point" if img.mode == "F" else "32-bit or signed integer"
        raise UnsupportedImage(
            f"{kind} samples (Pillow mode {img.mode}) have no agreed mapping to 8 bits; "
            f"expected 8- or 16-bit unsigned samples"
        )
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def decode_image(path: str | os.PathLike[str]) -> tuple[Tensor, list[str]]:
    """Decode one file to a uint8 3 x H x W tensor, plus notes (e.g. ``"animated"``).

    Raises InputError naming the file and the reason when it cannot be an image.
    """
    name = os.fsdecode(path)
    problem = check_file(path)
    if problem:
        raise InputError(f"{name}: {problem}")
    try:
        with open_regular(path, name, "an image file") as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_IMAGE_BYTES:  # grown since the check
                raise InputError(f"{name}: {_too_many_bytes(size)}")
            data = f.read(MAX_IMAGE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{name}: {one_line(exc.strerror or exc)}") from None
    if len(data) > MAX_IMAGE_BYTES:
        raise InputError(f"{name}: {_too_many_bytes(len(data))}")
    return decode_bytes(data, name)


def _fast_decode(data: bytes) -> np.ndarray | None:
    """H x W x 3 uint8 from an optional decoder that gives Pillow's exact pixels, 2-6x faster
    (``benchmarks/decoders.py``); None where none applies, and Pillow decodes."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return _png_fast(data)
    if data[:3] == b"\xff\xd8\xff":
        return _jpeg_fast(data)
    return None


def _png_fast(data: bytes) -> np.ndarray | None:
    """pyspng (libspng, optional: ``pip install pyspng simplejpeg``, the 'fast' extra) for plain 8-bit gray,
    RGB and RGBA PNGs, where it gives the same pixels as Pillow's ``convert("RGB")`` (tested),
    1.3x (256x256) to 3x (32x32) faster; None for anything else, which Pillow then decodes."""
    try:
        import pyspng
    except ImportError:
        return None
    if len(data) < 33 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    depth, colour, interlace = data[24], data[25], data[28]
    if depth != 8 or colour not in (0, 2, 6) or interlace != 0 or width * height > MAX_PIXELS:
        return None
    if b"acTL" in data[: data.find(b"IDAT")]:  # animated (APNG): Pillow decodes it, and notes it
        return None
    try:
        array = pyspng.load(data)
    except Exception:  # let Pillow decode it, and word the error if there is one
        return None
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    return np.ascontiguousarray(array[:, :, :3])


def _jpeg_fast(data: bytes) -> np.ndarray | None:
    """simplejpeg (libjpeg-turbo, optional: ``pip install pyspng simplejpeg``, the 'fast' extra) for YCbCr and
    grayscale JPEGs, baseline or progressive: with its defaults (accurate DCT, fancy upsampling)
    the same pixels as Pillow's ``convert("RGB")`` (tested), 1.3-2.4x (256x256) to 5x (32x32)
    faster. Not CMYK/YCCK or Adobe RGB, whose conversion differs from Pillow's; ``strict`` makes
    a truncated or corrupt file an error here, so Pillow then decodes it and words the error."""
    try:
        import simplejpeg
    except ImportError:
        return None
    try:
        height, width, colorspace, _ = simplejpeg.decode_jpeg_header(data)
        if colorspace not in ("YCbCr", "Gray") or width * height > MAX_PIXELS:
            return None
        return simplejpeg.decode_jpeg(data, colorspace="RGB", fastdct=False, fastupsample=False, strict=True)
    except Exception:  # let Pillow decode it, and word the error if there is one
        return None


def decode_bytes(data: bytes, name: str) -> tuple[Tensor, list[str]]:
    """Decode an image held in memory (a file's or an archive member's bytes); ``name`` is used
    in messages."""
    if not data:
        raise InputError(f"{name}: empty file (0 bytes)")
    if png_bit_depth(data) == 16:
        try:
            samples, animated = decode_png16(data, MAX_PIXELS)
        except Exception as exc:  # CorruptImage, UnsupportedImage, or numpy/zlib on bytes made to break them
            raise InputError(f"{name}: {_reason(exc, lambda: 'PNG')}") from None
        rgb = samples_to_rgb(scale_to_uint8(samples, 16))
        return torch.from_numpy(rgb).permute(2, 0, 1), ["animated"] if animated else []
    fast = _fast_decode(data)
    if fast is not None:
        return torch.from_numpy(fast).permute(2, 0, 1), []
    return _decode(io.BytesIO(data), name, lambda: _sniff_bytes(data[:12]))


def _decode(source: Any, name: str, sniff: Any) -> tuple[Tensor, list[str]]:
    from PIL import Image

    notes = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our limit is MAX_PIXELS
            with Image.open(source) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise Image.DecompressionBombError(img.size)
                if getattr(img, "is_animated", False):
                    notes.append("animated")  # Image.open gives the first frame
                array = _to_rgb_array(img)
    except Exception as exc:  # Pillow raises many types (OSError, SyntaxError, ValueError, ...)
        raise InputError(f"{name}: {_reason(exc, sniff)}") from None
    array = array if array.flags.writeable else array.copy()  # Pillow's buffers are read-only
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1), notes  # 3 x H x W
