"""Images with more than 8 bits per sample: their raw samples, and the one rule that maps them to 8 bits.

**One rule for every 16-bit image** (grayscale, gray + alpha, RGB, RGBA; PNG or TIFF): a sample
``v`` in 0..65535 becomes ``(v * 255 + 32767) // 65535``, the nearest 8-bit level (rounded, never
truncated, never the high byte alone). In general a b-bit sample ``v`` (0..m, m = 2^b - 1) becomes
``(v * 255 + m // 2) // m``. Alpha is dropped, as Pillow's ``convert("RGB")`` drops it.

Pillow alone cannot apply it: it decodes 16-bit RGB(A) PNGs and TIFFs to 8-bit modes by keeping
each sample's high byte (Pillow 13: ``Image.open`` gives mode ``"RGB"``/``"RGBA"``), so 129 (of
65535) would become 0 where rounding gives 1, and 16-bit gray (mode ``"I;16"``) is clipped to 255
by ``convert("RGB")``. So the samples are read here:

* **16-bit PNG**, any colour type, interlaced or not: chunks, zlib and the five row filters are
  decoded with numpy (:func:`decode_png16`); pyspng, when installed, decodes the plain ones
  faster (same samples, tested);
* **16-bit TIFF with 2-4 samples** (gray + alpha, RGB, RGBA), in strips or tiles, chunky or
  planar, uncompressed, Deflate, LZW or PackBits, with or without the horizontal predictor
  (:func:`tiff16_samples`; 16-bit gray TIFFs keep Pillow's ``"I;16"`` decoding, which is exact);
* anything else wider than 8 bits (32-bit integer or float samples, signed 16-bit, other TIFF
  compressions) has no agreed mapping to 8 bits and is refused (:class:`UnsupportedImage`).

Example:
    >>> import numpy as np
    >>> scale_to_uint8(np.array([0, 129, 200, 32767, 65407, 65535], dtype=np.uint16), 16).tolist()
    [0, 1, 1, 127, 255, 255]
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import numpy as np

__all__ = [
    "CorruptImage",
    "UnsupportedImage",
    "scale_to_uint8",
    "samples_to_rgb",
    "png_bit_depth",
    "decode_png16",
    "tiff16_samples",
]


class CorruptImage(ValueError):
    """The data is not a valid image of its format (truncated, bad checksum, impossible header)."""


class UnsupportedImage(ValueError):
    """A valid image that cannot be scored without guessing (its message says why and what to do)."""


def scale_to_uint8(samples: np.ndarray, bits: int) -> np.ndarray:
    """b-bit unsigned samples -> uint8 by ``(v * 255 + m // 2) // m``, m = 2^b - 1 (any shape)."""
    m = (1 << bits) - 1
    wide = np.minimum(samples.astype(np.uint32), m)  # 12-bit data in a 16-bit container may overshoot
    return ((wide * 255 + m // 2) // m).astype(np.uint8)


def samples_to_rgb(samples: np.ndarray) -> np.ndarray:
    """H x W x C uint8 (C = 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA) or H x W -> H x W x 3, alpha dropped."""
    if samples.ndim == 2:
        samples = samples[:, :, None]
    if samples.shape[2] in (1, 2):
        return np.repeat(samples[:, :, :1], 3, axis=2)
    return np.ascontiguousarray(samples[:, :, :3])


# ----------------------------------------------------------------------------------------- PNG

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type -> samples per pixel (3, palette, is 8-bit at most)
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def png_bit_depth(data: bytes) -> int | None:
    """The bit depth a PNG's header declares, or None if ``data`` does not start like a PNG."""
    if len(data) < 29 or data[:8] != _PNG_SIGNATURE or data[12:16] != b"IHDR":
        return None
    return data[24]


def _png_chunks(data: bytes) -> tuple[bytes, list[bytes], bool]:
    """(IHDR body, IDAT bodies, animated) after checking every chunk's length and CRC."""
    pos, ihdr, idat, animated = 8, b"", [], False
    while True:
        if pos + 12 > len(data):
            raise CorruptImage("the file ends before the IEND chunk")
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 8 + length
        if end + 4 > len(data):
            raise CorruptImage(f"the {kind.decode('latin-1')!r} chunk runs past the end of the file")
        body = data[pos + 8 : end]
        if zlib.crc32(kind + body) != struct.unpack(">I", data[end : end + 4])[0]:
            raise CorruptImage(f"bad CRC in the {kind.decode('latin-1')!r} chunk")
        if kind == b"IHDR":
            ihdr = body
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"acTL":
            animated = True
        elif kind == b"IEND":
            return ihdr, idat, animated
        pos = end + 4


def _png16_header(data: bytes, max_pixels: int) -> tuple[int, int, int, int]:
    """(width, height, channels, interlace) of a 16-bit PNG, checked."""
    if len(data) < 33 or struct.unpack(">I", data[8:12])[0] != 13:
        raise CorruptImage("bad IHDR chunk")
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", data[16:29])
    if depth != 16 or colour not in _PNG_CHANNELS or compression or filtering or interlace > 1:
        raise CorruptImage(f"impossible header (bit depth {depth}, colour type {colour})")
    if width == 0 or height == 0:
        raise CorruptImage(f"impossible size {width} x {height}")
    if width * height > max_pixels:
        raise UnsupportedImage(f"refused: more than {max_pixels:,} pixels (a decompression bomb?)")
    return width, height, _PNG_CHANNELS[colour], interlace


def _unfilter(raw: memoryview, rows: int, stride: int, bpp: int) -> np.ndarray:
    """Undo the PNG row filters of ``rows`` rows of ``stride`` bytes (each preceded by its filter byte)."""
    lines = np.frombuffer(raw, dtype=np.uint8).reshape(rows, stride + 1)
    kinds, data = lines[:, 0], lines[:, 1:]
    if kinds.max(initial=0) > 4:
        raise CorruptImage(f"unknown row filter {int(kinds.max())}")
    if not np.isin(kinds, (3, 4)).any():  # None, Sub and Up: a row at a time, vectorised
        out = np.empty((rows, stride), dtype=np.uint8)
        previous = np.zeros(stride, dtype=np.uint8)
        for y in range(rows):
            if kinds[y] == 1:  # a running sum along each byte lane, modulo 256
                out[y] = np.cumsum(data[y].reshape(-1, bpp), axis=0, dtype=np.uint8).reshape(-1)
            elif kinds[y] == 2:
                np.add(data[y], previous, out=out[y])
            else:
                out[y] = data[y]
            previous = out[y]
        return out
    # Average and Paeth depend on the pixel just decoded to the left, so no row can be decoded
    # at once; but a pixel depends only on its left, upper and upper-left neighbours, all on the
    # previous anti-diagonal or the one before: decode one anti-diagonal (x + y = d) at a time.
    width = stride // bpp
    pixels = data.reshape(rows, width, bpp).astype(np.int16)
    out = np.zeros((rows + 1, width + 1, bpp), dtype=np.int16)  # a zero row and column in front
    kind = kinds.astype(np.int16)[:, None]
    for d in range(rows + width - 1):
        y = np.arange(max(0, d - width + 1), min(rows, d + 1))
        x = d - y
        left, up, upper_left = out[y + 1, x], out[y, x + 1], out[y, x]
        p = left + up - upper_left
        pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - upper_left)
        paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, upper_left))
        k = kind[y]
        predicted = np.select([k == 1, k == 2, k == 3, k == 4], [left, up, (left + up) >> 1, paeth], 0)
        out[y + 1, x + 1] = (pixels[y, x] + predicted) & 255
    return out[1:, 1:].astype(np.uint8).reshape(rows, stride)


def decode_png16(data: bytes, max_pixels: int) -> tuple[np.ndarray, bool]:
    """H x W x C uint16 samples of a 16-bit PNG (C = 1, 2, 3 or 4) and whether it is animated
    (APNG: its default image is decoded, as Pillow gives the first frame)."""
    width, height, channels, interlace = _png16_header(data, max_pixels)
    _, idat, animated = _png_chunks(data)
    if not idat:
        raise CorruptImage("no image data (IDAT chunk)")
    bpp = 2 * channels
    passes = _ADAM7 if interlace else ((0, 0, 1, 1),)
    shapes = [((height - y0 + dy - 1) // dy, (width - x0 + dx - 1) // dx) for x0, y0, dx, dy in passes]
    expected = sum(rows * (1 + cols * bpp) for rows, cols in shapes if rows and cols)
    fast = _png16_fast(data) if not interlace else None
    if fast is not None and fast.shape[:2] == (height, width):
        return fast[:, :, :channels], animated
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(b"".join(idat), expected)  # never more than the header allows
    except zlib.error as exc:
        raise CorruptImage(f"corrupt compressed data ({exc})") from None
    if len(raw) < expected:
        raise CorruptImage("truncated image data")
    samples = np.empty((height, width, channels), dtype=np.uint16)
    view, offset = memoryview(raw), 0
    for (x0, y0, dx, dy), (rows, cols) in zip(passes, shapes, strict=True):
        if not rows or not cols:
            continue
        size = rows * (1 + cols * bpp)
        block = _unfilter(view[offset : offset + size], rows, cols * bpp, bpp)
        samples[y0::dy, x0::dx] = block.view(">u2").reshape(rows, cols, channels)
        offset += size
    return samples, animated


def _png16_fast(data: bytes) -> np.ndarray | None:
    """pyspng's 16-bit samples (H x W x C, C as spng gives them), or None: not installed or failed."""
    if data[25] == 4:  # gray + alpha: spng's automatic format does not decode it
        return None
    try:
        import pyspng

        array = pyspng.load(data)
    except Exception:  # not installed, or it cannot: decode here, and word the error if there is one
        return None
    if array.dtype != np.uint16:
        return None
    return array if array.ndim == 3 else array[:, :, None]


# ---------------------------------------------------------------------------------------- TIFF

_TIFF_COMPRESSIONS = {1: "none", 5: "LZW", 8: "Deflate", 32946: "Deflate", 32773: "PackBits"}


def _lzw_decode(data: bytes, limit: int) -> bytes:
    """TIFF LZW (MSB-first codes of 9-12 bits, code width grows one code early, as libtiff)."""
    out = bytearray()
    table: list[bytes] = [bytes([i]) for i in range(256)] + [b"", b""]
    width, pos, total_bits = 9, 0, len(data) * 8
    previous: bytes | None = None
    padded = data + b"\x00\x00\x00"
    while pos + width <= total_bits and len(out) < limit:
        byte = pos >> 3
        code = (int.from_bytes(padded[byte : byte + 3], "big") >> (24 - (pos & 7) - width)) & ((1 << width) - 1)
        pos += width
        if code == 256:  # clear
            del table[258:]
            width, previous = 9, None
            continue
        if code == 257:  # end of information
            break
        if previous is None:
            if code > 255:
                raise CorruptImage("corrupt LZW data")
            entry = table[code]
        elif code < len(table):
            entry = table[code]
            table.append(previous + entry[:1])
        elif code == len(table):
            entry = previous + previous[:1]
            table.append(entry)
        else:
            raise CorruptImage("corrupt LZW data")
        out += entry
        previous = entry
        if len(table) > 4096:
            raise CorruptImage("corrupt LZW data (code table overflow)")
        if len(table) >= (1 << width) - 1 and width < 12:
            width += 1
    return bytes(out)


def _packbits_decode(data: bytes, limit: int) -> bytes:
    out, pos = bytearray(), 0
    while pos < len(data) and len(out) < limit:
        n = data[pos]
        pos += 1
        if n < 128:  # n + 1 literal bytes
            out += data[pos : pos + n + 1]
            pos += n + 1
        elif n > 128:  # one byte repeated 257 - n times
            out += data[pos : pos + 1] * (257 - n)
            pos += 1
    return bytes(out)


def _tiff_tag(tags: Any, number: int, default: Any = None) -> Any:
    value = tags.get(number, default)
    return value if isinstance(value, tuple) or value is None else (value,)


def _read_at(fp: Any, offset: int, size: int) -> bytes:
    fp.seek(offset)
    data = fp.read(size)
    if len(data) < size:
        raise CorruptImage("image data past the end of the file")
    return data


def tiff16_samples(img: Any, max_pixels: int) -> np.ndarray:
    """H x W x C uint16 samples of the current frame of a 16-bit TIFF that Pillow opened (``img``)."""
    tags = img.tag_v2
    width, height = img.size
    if width * height > max_pixels:
        raise UnsupportedImage(f"refused: more than {max_pixels:,} pixels (a decompression bomb?)")
    bits = _tiff_tag(tags, 258, (1,))
    spp = int(_tiff_tag(tags, 277, (1,))[0])
    formats = _tiff_tag(tags, 339, (1,))
    compression = int(_tiff_tag(tags, 259, (1,))[0])
    predictor = int(_tiff_tag(tags, 317, (1,))[0])
    planar = int(_tiff_tag(tags, 284, (1,))[0])
    photometric = int(_tiff_tag(tags, 262, (2,))[0])
    if set(bits) != {16} or set(formats) - {1} or not 1 <= spp <= 4:
        raise UnsupportedImage(
            f"TIFF with {'/'.join(map(str, bits))}-bit samples of format {formats[0]}; expected 8- or "
            f"16-bit unsigned samples (no agreed mapping of other samples to 8 bits)"
        )
    if compression not in _TIFF_COMPRESSIONS or predictor not in (1, 2) or photometric not in (1, 2):
        raise UnsupportedImage(
            f"16-bit TIFF with compression {compression}, predictor {predictor}, photometric {photometric} "
            f"cannot be read with all its bits; save it uncompressed, with Deflate or LZW, or as a 16-bit PNG"
        )
    if int(_tiff_tag(tags, 266, (1,))[0]) != 1:
        raise UnsupportedImage("16-bit TIFF with reversed bit order (FillOrder 2); save it with FillOrder 1")
    fp = img.fp
    fp.seek(0)
    order = {b"II": "<", b"MM": ">"}.get(fp.read(2))
    if order is None:
        raise CorruptImage("no TIFF byte order mark")
    planes = spp if planar == 2 else 1
    lanes = 1 if planar == 2 else spp  # samples per pixel within one block
    tiled = 322 in tags
    if tiled:
        block_w, block_h = int(_tiff_tag(tags, 322)[0]), int(_tiff_tag(tags, 323)[0])
        offsets, counts = _tiff_tag(tags, 324, ()), _tiff_tag(tags, 325, ())
    else:
        block_w, block_h = width, min(int(_tiff_tag(tags, 278, (height,))[0]), height)
        offsets, counts = _tiff_tag(tags, 273, ()), _tiff_tag(tags, 279, ())
    if block_w <= 0 or block_h <= 0 or block_w * block_h > max(width * height, 1 << 20):
        raise CorruptImage(f"impossible strip or tile size {block_w} x {block_h}")
    across, down = -(-width // block_w), -(-height // block_h)
    if len(offsets) < across * down * planes or len(counts) < len(offsets):
        raise CorruptImage(f"{len(offsets)} strips or tiles listed, {across * down * planes} needed")
    out = np.empty((height, width, spp), dtype=np.uint16)
    block_bytes = block_w * block_h * lanes * 2
    for plane in range(planes):
        for index in range(across * down):
            k = plane * across * down + index
            raw = _read_at(fp, int(offsets[k]), int(counts[k]))
            if compression == 1:
                data = raw
            elif compression == 5:
                data = _lzw_decode(raw, block_bytes)
            elif compression == 32773:
                data = _packbits_decode(raw, block_bytes)
            else:
                try:
                    data = zlib.decompressobj().decompress(raw, block_bytes)
                except zlib.error as exc:
                    raise CorruptImage(f"corrupt Deflate data ({exc})") from None
            top, left = (index // across) * block_h, (index % across) * block_w
            rows = min(block_h, height - top) if not tiled else block_h
            needed = rows * block_w * lanes * 2
            if len(data) < needed:
                raise CorruptImage("truncated strip or tile")
            block = np.frombuffer(data[:needed], dtype=order + "u2").reshape(rows, block_w, lanes)
            if predictor == 2:  # horizontal differencing, per sample, modulo 2^16
                block = np.cumsum(block, axis=1, dtype=np.uint16)
            h, w = min(rows, height - top), min(block_w, width - left)
            target = out[top : top + h, left : left + w]
            if planar == 2:
                target[:, :, plane] = block[:h, :w, 0]
            else:
                target[:] = block[:h, :w]
    return out
