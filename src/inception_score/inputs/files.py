"""Image files: which files of a folder are scored, and decoding one file to uint8 RGB.

A metric tool runs unattended on folders made by someone else's code, so every way a file can
be wrong ends in :class:`~inception_score.errors.InputError` with a reason a person can act on,
never a crash, a hang or a silently wrong image:

* listing: regular files with an image extension (any case); symbolic links to files are
  followed (their real path is what is sorted, as torch-fidelity does), links to folders are
  not (as torch-fidelity's ``os.walk``), so a link loop cannot hang a recursive run; FIFOs and
  devices are not opened;
* decoding: Pillow, then ``convert("RGB")`` as torch-fidelity does, except where that would be
  wrong: 16-bit grayscale is scaled to 8 bits (``convert`` clips it to white), and animated
  GIF/WebP give their first frame with a note;
* refusals: empty files, broken links, text with an image extension, truncated data, and images
  over :data:`MAX_PIXELS` (a decompression bomb: a few KB that decode to gigabytes).

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
import stat
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import InputError

__all__ = [
    "IMAGE_EXTENSIONS",
    "LOSSY_EXTENSIONS",
    "MAX_PIXELS",
    "list_images",
    "decode_image",
    "decode_bytes",
    "check_file",
    "check_header",
]

IMAGE_EXTENSIONS = ("png", "jpg", "jpeg", "bmp", "webp", "tif", "tiff", "gif")
LOSSY_EXTENSIONS = ("jpg", "jpeg")
# Pillow's own refusal threshold (2 x Image.MAX_IMAGE_PIXELS): a 10000 x 10000 image (1e8 pixels,
# 300 MB as RGB) is scored; a 20000 x 20000 one is refused.
MAX_PIXELS = 2 * 89_478_485


def list_images(folder: Path, recursive: bool) -> list[str]:
    """Real paths of the image files in ``folder`` (and sub-folders if ``recursive``), sorted."""
    paths: list[str] = []
    pending = [os.fspath(folder)]
    while pending:
        directory = pending.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError as exc:
            raise InputError(f"{os.fsdecode(directory)}: cannot list folder ({exc.strerror or exc})") from None
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
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return "broken symbolic link" if os.path.islink(path) else "no such file"
    except PermissionError:
        return "permission denied"
    except OSError as exc:
        return exc.strerror or str(exc)
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    if info.st_size == 0:
        return "empty file (0 bytes)"
    if not os.access(path, os.R_OK):
        return "permission denied"
    return None


_SIGNATURES = {
    b"\x89PNG": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"GIF8": "GIF",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
}


def _sniff(path: str | os.PathLike[str]) -> str | None:
    """The image format the file's first bytes announce, if any."""
    try:
        with open(path, "rb") as f:
            return _sniff_bytes(f.read(12))
    except OSError:
        return None


def _sniff_bytes(head: bytes) -> str | None:
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return next((fmt for magic, fmt in _SIGNATURES.items() if head.startswith(magic)), None)


def check_header(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` cannot be an image, from its metadata and its header (Pillow reads the header
    only: ~50 us a file), or None. Truncated pixel data is found only by decoding."""
    from PIL import Image

    problem = check_file(path)
    if problem:
        return problem
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise Image.DecompressionBombError(img.size)
    except Exception as exc:
        return _reason(exc, lambda: _sniff(path))
    return None


def _reason(exc: BaseException, sniff: Any) -> str:
    from PIL import Image, UnidentifiedImageError

    if isinstance(exc, Image.DecompressionBombError):
        return f"refused: more than {MAX_PIXELS:,} pixels (a decompression bomb?)"
    if isinstance(exc, UnidentifiedImageError):
        fmt = sniff()
        if fmt:
            return f"truncated or corrupt image data (starts like a {fmt} file, but Pillow cannot read it)"
        return "not an image Pillow can read (text or another format with an image extension?)"
    if isinstance(exc, PermissionError):
        return "permission denied"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "truncated" in text.lower() or isinstance(exc, (EOFError, SyntaxError)):
        return f"truncated or corrupt image data ({text})"
    return f"cannot decode image ({text})"


def _to_rgb_array(img: Any) -> np.ndarray:  # img: PIL.Image.Image (Pillow is imported lazily)
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N") or (img.mode == "I" and img.getextrema()[1] > 255):
        # 16-bit grayscale: scale 0..65535 to 0..255 with rounding (convert("RGB") would clip).
        wide = np.asarray(img).astype(np.int64)
        gray = ((np.clip(wide, 0, 65535) * 255 + 32767) // 65535).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def decode_image(path: str | os.PathLike[str]) -> tuple[Tensor, list[str]]:
    """Decode one file to a uint8 3 x H x W tensor, plus notes (e.g. ``"animated"``).

    Raises InputError naming the file and the reason when it cannot be an image.
    """
    name = os.fsdecode(path)
    problem = check_file(path)
    if problem:
        raise InputError(f"{name}: {problem}")
    if os.path.splitext(name)[1].lower() in (".png", ".jpg", ".jpeg"):  # the formats with a fast path
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise InputError(f"{name}: {exc.strerror or exc}") from None
        fast = _fast_decode(data)
        if fast is not None:
            return torch.from_numpy(fast).permute(2, 0, 1), []
        return _decode(io.BytesIO(data), name, lambda: _sniff_bytes(data[:12]))
    return _decode(path, name, lambda: _sniff(path))


def _fast_decode(data: bytes) -> np.ndarray | None:
    """H x W x 3 uint8 from an optional decoder that gives Pillow's exact pixels, 2-6x faster
    (``benchmarks/decoders.py``); None where none applies, and Pillow decodes."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return _png_fast(data)
    if data[:3] == b"\xff\xd8\xff":
        return _jpeg_fast(data)
    return None


def _png_fast(data: bytes) -> np.ndarray | None:
    """pyspng (libspng, optional: ``pip install inception-score[fast]``) for plain 8-bit gray,
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
    try:
        array = pyspng.load(data)
    except Exception:  # let Pillow decode it, and word the error if there is one
        return None
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    return np.ascontiguousarray(array[:, :, :3])


def _jpeg_fast(data: bytes) -> np.ndarray | None:
    """simplejpeg (libjpeg-turbo, optional: ``pip install inception-score[fast]``) for YCbCr and
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
    """Decode an image held in memory (an archive member); ``name`` is used in messages."""
    if not data:
        raise InputError(f"{name}: empty file (0 bytes)")
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
