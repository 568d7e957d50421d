#!/usr/bin/env python
"""Image decoders for the formats inception-score reads: speed, and whether the pixels equal Pillow's.

    python benchmarks/decoders.py                      # defaults: --repeat 15 --count 8, about a minute
    python benchmarks/decoders.py --repeat 31 --count 16 --out /tmp/decoders.md

Why: the reference (torch-fidelity) decodes every file with ``PIL.Image.open(path).convert("RGB")``.
A faster decoder is only usable if it returns exactly the same uint8 pixels, since any difference
changes the Inception Score. So every decoder below is timed *and* compared with Pillow, pixel for
pixel, on the same bytes.

How it measures (read this before the table):

* Data. Per size (32x32, 256x256, 512x512) ``--count`` distinct, seeded, deterministic
  "natural-ish" RGB images are generated in memory: smooth colour gradients, a low-frequency
  colour field, a fine texture, blurred ellipses / rectangles / lines, and a little pixel noise, so
  that PNG and JPEG sizes are near those of real photos, not of pure noise (the table shows KiB
  per image; real photos vary more, and often have more JPEG-visible detail).
  Each is encoded with Pillow as PNG (RGB, 8 bits, default compression) and as JPEG at quality 90
  and 75 with Pillow's default 4:2:0 chroma subsampling, and at quality 90 with 4:4:4
  (``subsampling=0``). All decoding is from bytes in memory: no file I/O is timed.
* Decoders. Each decoder gets the encoded bytes in the container it takes (``bytes``, or for
  torchvision a 1-D uint8 tensor, as ``torchvision.io.read_file`` returns it); building that
  container is not timed. The timed call returns the decoder's native layout: an HWC uint8 numpy
  array, or a CHW uint8 tensor for torchvision / torchcodec (their HWC view for the comparison is
  made outside the timing, ``permute`` is free anyway). OpenCV's BGR->RGB (``cv2.cvtColor``) is
  inside the timing, Pillow's ``convert("RGB")`` + ``np.asarray`` too.
* Timing. For each case, every decoder first decodes all images twice (warm-up; the second pass
  sets an inner loop count so that one timed repetition lasts at least ``--min-rep-ms``, which
  matters for 32x32 images that decode in tens of microseconds). Then ``--repeat`` repetitions run
  round-robin over the decoders (decoder A, B, C, A, B, C, ...), so that a slow minute on a shared
  machine hits all decoders of a case alike; the garbage collector is off during a repetition.
  ``median`` and ``min`` are over the repetitions, in ms per image (repetition time / images /
  inner loops). ``x Pillow`` is Pillow's median (min) over the decoder's median (min): above 1 is
  faster. On shared virtual CPUs trust ``min`` more than ``median`` for the ratio, and the load
  average in the header says how busy the machine was.
* Pixels. Each decoder's output for every image is compared with Pillow's: ``identical``, or the
  largest absolute difference of a channel value and the fraction of pixels (any channel) that
  differ, over all images of the case.

Every decoder is optional: one that does not import gets a ``not installed`` row. Everything
decodes single-threaded (none of these calls parallelises one image).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import gc
import importlib.metadata
import io
import math
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, features

SIZES: tuple[int, ...] = (32, 256, 512)
SEED = 20240607
OUT_DIR = Path(__file__).resolve().parent / "out"


# --------------------------------------------------------------------------------------------------
# Data


@dataclasses.dataclass(frozen=True)
class Case:
    """One format at one size: the encoded bytes of ``count`` images."""

    fmt: str  # "png" or "jpeg"
    label: str  # e.g. "JPEG q90 4:2:0"
    size: int
    blobs: tuple[bytes, ...]

    @property
    def name(self) -> str:
        return f"{self.label} {self.size}x{self.size}"

    @property
    def kib_per_image(self) -> float:
        return sum(len(b) for b in self.blobs) / len(self.blobs) / 1024


def upsampled(rng: np.random.Generator, cells: tuple[int, ...], size: int) -> np.ndarray:
    """A random uint8 grid of ``cells`` (rows, cols[, 3]) resized bicubically to size x size, as float32."""
    grid = rng.integers(0, 256, size=cells, dtype=np.uint8)
    return np.asarray(Image.fromarray(grid).resize((size, size), Image.Resampling.BICUBIC), np.float32)


def natural_image(rng: np.random.Generator, size: int) -> Image.Image:
    """A photo-like RGB image: gradients, a colour field, fine texture, soft shapes, mild noise."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / max(size - 1, 1)
    base = np.empty((size, size, 3), np.float32)
    for c in range(3):
        a, b = rng.uniform(-90, 90, size=2)
        base[..., c] = rng.uniform(60, 190) + a * (xx - 0.5) + b * (yy - 0.5)
    field = upsampled(rng, (int(rng.integers(3, 7)), int(rng.integers(3, 7)), 3), size)
    texture = (upsampled(rng, (max(2, size // 3),) * 2, size)[..., None] - 127.5) * (30 / 127.5)
    img = Image.fromarray(np.clip(0.6 * base + 0.4 * field + texture, 0, 255).astype(np.uint8))
    draw_shapes(ImageDraw.Draw(img), rng, size)
    img = img.filter(ImageFilter.GaussianBlur(radius=max(0.4, size / 320)))
    noisy = np.asarray(img, np.float32) + rng.normal(0.0, 2.5, size=(size, size, 3))
    return Image.fromarray(np.clip(np.rint(noisy), 0, 255).astype(np.uint8))


def draw_shapes(draw: ImageDraw.ImageDraw, rng: np.random.Generator, size: int) -> None:
    """A few filled ellipses and rectangles and some lines, in random colours."""
    for _ in range(int(rng.integers(4, 10))):
        x0, y0 = rng.uniform(-0.2, 0.9, size=2) * size
        w, h = rng.uniform(0.08, 0.5, size=2) * size
        fill = tuple(int(v) for v in rng.integers(0, 256, size=3))
        box = (x0, y0, x0 + w, y0 + h)
        (draw.ellipse if rng.random() < 0.6 else draw.rectangle)(box, fill=fill)
    for _ in range(int(rng.integers(2, 6))):
        pts = [tuple(p) for p in rng.uniform(0, size, size=(2, 2))]
        fill = tuple(int(v) for v in rng.integers(0, 256, size=3))
        draw.line(pts, fill=fill, width=max(1, size // 64))


def encode(img: Image.Image, fmt: str, **params: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    return buf.getvalue()


ENCODINGS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("png", "PNG", {}),
    ("jpeg", "JPEG q90 4:2:0", {"quality": 90}),
    ("jpeg", "JPEG q75 4:2:0", {"quality": 75}),
    ("jpeg", "JPEG q90 4:4:4", {"quality": 90, "subsampling": 0}),
)


def build_cases(count: int, sizes: Sequence[int] = SIZES) -> list[Case]:
    cases: list[Case] = []
    for size in sizes:
        rng = np.random.default_rng([SEED, size])
        images = [natural_image(rng, size) for _ in range(count)]
        for fmt, label, params in ENCODINGS:
            blobs = tuple(encode(im, fmt.upper(), **params) for im in images)
            cases.append(Case(fmt=fmt, label=label, size=size, blobs=blobs))
    return cases


# --------------------------------------------------------------------------------------------------
# Decoders


@dataclasses.dataclass(frozen=True)
class Decoder:
    """``decode(prepare(data))`` is timed without ``prepare``; ``to_hwc`` makes a numpy HWC array."""

    name: str
    formats: frozenset[str]
    decode: Callable[[Any], Any] | None = None
    prepare: Callable[[bytes], Any] = lambda data: data
    to_hwc: Callable[[Any], np.ndarray] = np.asarray
    missing: str | None = None  # why it is not available


def unavailable(name: str, formats: Sequence[str], err: BaseException) -> Decoder:
    return Decoder(name=name, formats=frozenset(formats), missing=f"not installed ({type(err).__name__})")


def pillow_decode(data: bytes) -> np.ndarray:
    """The reference: what torch-fidelity does with every file, from bytes instead of a path."""
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def pillow_decoders() -> list[Decoder]:
    return [Decoder("Pillow open+convert(RGB)", frozenset({"png", "jpeg"}), pillow_decode)]


def pyspng_decoders() -> list[Decoder]:
    try:
        import pyspng
    except ImportError as err:
        return [unavailable("pyspng load", ["png"], err)]
    return [Decoder("pyspng load", frozenset({"png"}), pyspng.load)]


def simplejpeg_decoders() -> list[Decoder]:
    try:
        import simplejpeg
    except ImportError as err:
        return [unavailable("simplejpeg", ["jpeg"], err)]

    def variant(**kw: bool) -> Callable[[bytes], np.ndarray]:
        return lambda data: simplejpeg.decode_jpeg(data, colorspace="RGB", **kw)

    jpeg = frozenset({"jpeg"})
    return [
        Decoder("simplejpeg (defaults)", jpeg, variant()),
        Decoder("simplejpeg fastdct=False fastupsample=False", jpeg, variant(fastdct=False, fastupsample=False)),
        Decoder("simplejpeg fastdct=True", jpeg, variant(fastdct=True, fastupsample=False)),
        Decoder("simplejpeg fastupsample=True", jpeg, variant(fastdct=False, fastupsample=True)),
    ]


def opencv_decoders() -> list[Decoder]:
    try:
        import cv2
    except ImportError as err:
        return [unavailable("opencv imdecode", ["png", "jpeg"], err)]

    def bgr_then_cvtcolor(data: bytes) -> np.ndarray:
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    both = frozenset({"png", "jpeg"})
    decoders = [Decoder("opencv imdecode COLOR + cvtColor", both, bgr_then_cvtcolor)]
    if hasattr(cv2, "IMREAD_COLOR_RGB"):  # OpenCV >= 4.11 decodes straight to RGB

        def rgb(data: bytes) -> np.ndarray:
            return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR_RGB)

        decoders.append(Decoder("opencv imdecode COLOR_RGB", both, rgb))
    return decoders


def chw_to_hwc(t: Any) -> np.ndarray:
    return t.permute(1, 2, 0).numpy()


def torchvision_decoders() -> list[Decoder]:
    try:
        import torch
        from torchvision import io as tvio
    except ImportError as err:
        return [unavailable("torchvision.io", ["png", "jpeg"], err)]

    rgb = tvio.ImageReadMode.RGB

    def as_tensor(data: bytes) -> Any:
        return torch.frombuffer(bytearray(data), dtype=torch.uint8)

    def make(fn: Callable[..., Any], name: str, formats: set[str]) -> Decoder:
        return Decoder(name, frozenset(formats), lambda t: fn(t, mode=rgb), prepare=as_tensor, to_hwc=chw_to_hwc)

    return [
        make(tvio.decode_png, "torchvision decode_png", {"png"}),
        make(tvio.decode_jpeg, "torchvision decode_jpeg", {"jpeg"}),
        make(tvio.decode_image, "torchvision decode_image", {"png", "jpeg"}),
    ]


def torchcodec_decoders() -> list[Decoder]:
    try:
        from torchcodec import decoders as tcd
    except Exception as err:  # ImportError, or a missing FFmpeg / libtorch mismatch at load time
        return [unavailable("torchcodec", ["png", "jpeg"], err)]

    def make(fn: Callable[..., Any], name: str, formats: set[str]) -> Decoder:
        return Decoder(name, frozenset(formats), lambda data: fn(data, mode="RGB"), to_hwc=chw_to_hwc)

    return [
        make(tcd.decode_png, "torchcodec decode_png", {"png"}),
        make(tcd.decode_jpeg, "torchcodec decode_jpeg", {"jpeg"}),
        make(tcd.decode_image, "torchcodec decode_image", {"png", "jpeg"}),
    ]


def all_decoders() -> list[Decoder]:
    """Pillow first: it is the reference."""
    factories = (
        pillow_decoders,
        pyspng_decoders,
        simplejpeg_decoders,
        opencv_decoders,
        torchvision_decoders,
        torchcodec_decoders,
    )
    return [d for factory in factories for d in factory()]


# --------------------------------------------------------------------------------------------------
# Measuring


@dataclasses.dataclass
class Row:
    case: Case
    decoder: Decoder
    times_ms: list[float] = dataclasses.field(default_factory=list)  # per image, one per repetition
    pixels: str = ""
    error: str | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def best(self) -> float:
        return min(self.times_ms)


def compare(outputs: Sequence[np.ndarray], reference: Sequence[np.ndarray]) -> str:
    """``identical``, or the largest channel difference and the fraction of differing pixels."""
    max_diff, differing, total = 0, 0, 0
    for out, ref in zip(outputs, reference, strict=True):
        if out.shape != ref.shape or out.dtype != ref.dtype:
            return f"shape/dtype {out.shape} {out.dtype} != {ref.shape} {ref.dtype}"
        diff = np.abs(out.astype(np.int16) - ref.astype(np.int16))
        max_diff = max(max_diff, int(diff.max()))
        differing += int(np.count_nonzero(diff.max(axis=-1)))
        total += ref.shape[0] * ref.shape[1]
    if max_diff == 0:
        return "identical"
    return f"max abs diff {max_diff}, {100 * differing / total:.2f}% px differ"


def one_pass(decode: Callable[[Any], Any], inputs: Sequence[Any], inner: int) -> float:
    """Seconds to decode every input ``inner`` times, garbage collector off."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(inner):
            for x in inputs:
                decode(x)
        return time.perf_counter() - start
    finally:
        if gc_was_enabled:
            gc.enable()


@dataclasses.dataclass
class Runner:
    """One decoder on one case, ready to be timed: inputs prepared, inner loop count set."""

    row: Row
    decode: Callable[[Any], Any]
    inputs: list[Any]
    inner: int = 1


def warm_up(row: Row, reference: Sequence[np.ndarray] | None, min_rep_s: float) -> Runner | None:
    """Decode everything twice, compare with Pillow, set the inner loop count; None on an error."""
    dec = row.decoder
    decode = dec.decode
    if decode is None:
        return None
    try:
        inputs = [dec.prepare(b) for b in row.case.blobs]
        outputs = [np.ascontiguousarray(dec.to_hwc(decode(x))) for x in inputs]
        t = one_pass(decode, inputs, 1)
    except Exception as err:  # a decoder that cannot read this case
        row.error = f"error: {type(err).__name__}: {str(err)[:80]}"
        return None
    row.pixels = "reference" if reference is None else compare(outputs, reference)
    return Runner(row, decode, inputs, inner=max(1, math.ceil(min_rep_s / max(t, 1e-9))))


def measure_case(case: Case, decoders: Sequence[Decoder], repeat: int, min_rep_s: float) -> list[Row]:
    rows = [Row(case, d) for d in decoders if case.fmt in d.formats]
    reference = [pillow_decode(b) for b in case.blobs]
    runners: list[Runner] = []
    for i, row in enumerate(rows):
        if row.decoder.missing:
            continue
        runner = warm_up(row, None if i == 0 else reference, min_rep_s)
        if runner is not None:
            runners.append(runner)
    gc.collect()
    for _ in range(repeat):
        for r in runners:
            seconds = one_pass(r.decode, r.inputs, r.inner)
            r.row.times_ms.append(1000 * seconds / (r.inner * len(r.inputs)))
    return rows


# --------------------------------------------------------------------------------------------------
# Report


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else platform.machine()


def dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def bundled_libjpeg_turbo(package: str) -> str | None:
    """The libjpeg-turbo version string compiled into a wheel's own shared libraries, if any."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    pkg_dir = Path(spec.origin).parent
    candidates = [*pkg_dir.glob("*.so*"), *pkg_dir.parent.glob(f"{package}.libs/*jpeg*.so*")]
    for path in sorted(candidates, key=lambda p: "jpeg" not in p.name):
        if path.stat().st_size > 8 << 20:
            continue
        found = re.search(rb"libjpeg-turbo version ([0-9][0-9.]*)", path.read_bytes())
        if found:
            return found.group(1).decode()
    return None


def opencv_codecs() -> str | None:
    try:
        import cv2
    except ImportError:
        return None
    info = cv2.getBuildInformation()
    parts = [m.group(0).strip() for m in re.finditer(r"^\s*(JPEG|PNG):.*$", info, re.MULTILINE)]
    return "; ".join(re.sub(r"\s+", " ", p) for p in parts) or None


def library_lines() -> list[str]:
    lines = [
        f"Pillow {dist_version('pillow')} (libjpeg-turbo {features.version('libjpeg_turbo')}, "
        f"zlib {features.version('zlib')}, zlib-ng {features.version('zlib_ng')})",
        f"numpy {np.__version__}",
    ]
    spng = dist_version("pyspng")
    if spng:
        import pyspng

        lines.append(f"pyspng {spng} (libspng {pyspng.c.spng_version_string()})")
    for dist, module in (("simplejpeg", "simplejpeg"), ("torchvision", "torchvision"), ("torchcodec", "torchcodec")):
        version = dist_version(dist)
        if version:
            lines.append(f"{dist} {version} (bundled libjpeg-turbo {bundled_libjpeg_turbo(module) or '?'})")
    for dist in ("opencv-python-headless", "opencv-python", "opencv-contrib-python"):
        if dist_version(dist):
            lines.append(f"{dist} {dist_version(dist)} ({opencv_codecs() or 'cv2 does not import'})")
    if dist_version("torch"):
        lines.append(f"torch {dist_version('torch')}")
    return [f"- {line}" for line in lines]


def header(args: argparse.Namespace, cases: Sequence[Case], load_before: str) -> str:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return "\n".join(
        [
            f"# Image decoders vs Pillow ({dt.datetime.now():%Y-%m-%d %H:%M})",
            "",
            f"- CPU: {cpu_model()}, {os.cpu_count()} cores ({affinity} usable)",
            f"- Python {platform.python_version()} on {platform.platform()}",
            *library_lines(),
            f"- Run: `{' '.join([Path(sys.argv[0]).name, *sys.argv[1:]])}`: {args.count} images per case, "
            f"{args.repeat} repetitions, each >= {args.min_rep_ms} ms; {len(cases)} cases",
            f"- Load average (1/5/15 min) before: {load_before}; after: {load_average()}",
            "",
            "Times are ms per image (median and min over the repetitions); "
            "`x Pillow` = Pillow's time / this decoder's time (above 1 is faster).",
            "",
            "",
        ]
    )


def load_average() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def fmt_ms(ms: float) -> str:
    return f"{ms:.4f}" if ms < 0.1 else f"{ms:.3f}" if ms < 10 else f"{ms:.1f}"


def table(rows_by_case: Sequence[list[Row]]) -> str:
    lines = [
        "| case | KiB/img | decoder | median ms | min ms | x Pillow (median) | x Pillow (min) | pixels vs Pillow |",
        "|---|---:|---|---:|---:|---:|---:|---|",
    ]
    for rows in rows_by_case:
        ref = rows[0]
        for row in rows:
            case = f"{row.case.name}" if row is ref else ""
            kib = f"{row.case.kib_per_image:.1f}" if row is ref else ""
            if row.decoder.missing or row.error:
                note = row.decoder.missing or row.error
                lines.append(f"| {case} | {kib} | {row.decoder.name} | | | | | {note} |")
                continue
            speed = f"{ref.median / row.median:.2f}" if ref.times_ms else ""
            speed_min = f"{ref.best / row.best:.2f}" if ref.times_ms else ""
            lines.append(
                f"| {case} | {kib} | {row.decoder.name} | {fmt_ms(row.median)} | {fmt_ms(row.best)} "
                f"| {speed} | {speed_min} | {row.pixels} |"
            )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# CLI


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="timed repetitions per decoder and case")
    parser.add_argument("--count", type=int, default=8, help="distinct images per case")
    parser.add_argument("--min-rep-ms", type=float, default=25.0, help="shortest timed repetition (inner loops)")
    parser.add_argument("--out", type=Path, default=None, help="Markdown output (default benchmarks/out/...)")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.count < 1:
        parser.error("--repeat and --count must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = load_average()
    out = args.out or OUT_DIR / f"decoders-{dt.datetime.now():%Y%m%d-%H%M}.md"
    cases = build_cases(args.count)
    decoders = all_decoders()
    rows_by_case = []
    for case in cases:
        print(f"... {case.name}", file=sys.stderr, flush=True)
        rows_by_case.append(measure_case(case, decoders, args.repeat, args.min_rep_ms / 1000))
    report = header(args, cases, load_before) + table(rows_by_case) + "\n"
    print(report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)
    print(f"written to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
