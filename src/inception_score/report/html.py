"""The HTML report: one self-contained ``report.html`` and the PNG figures behind it.

:func:`write_report` renders a result (:meth:`~inception_score.report.Result.to_dict`) for people:
the headline number and its uncertainty, what it is made of (IS = sharpness x diversity), the
warnings, the classes the images fall into, provenance, and six figures. The figures are embedded
as base64 ``data:`` URIs, so the page is one file that can be mailed or put in a supplement, and
are also written beside it as PNGs for slides.

Deviations from the obvious implementation, each for a reason:

* plots are drawn with Pillow's ImageDraw, not matplotlib: Pillow is already a dependency and a
  report must not add one (nor JavaScript, web fonts or any network reference);
* text inside figures is ASCII plus ``± · …``: the font bundled with Pillow has no other glyphs,
  and "e" reads better than a box for "é" (the HTML keeps the full text);
* every file is written under a temporary name and moved into place with ``os.replace``: a reader
  never sees half a file, and nothing else in the directory is touched;
* a figure without data is still written, as a small PNG that says why, so that a re-run never
  leaves an earlier run's figure beside a newer report (the page shows the note instead).

Example:
    >>> import tempfile
    >>> result = {"inception_score_mean": 9.5, "inception_score_std": 0.1, "split_scores": [9.4, 9.6],
    ...           "num_images": 100, "splits": 2, "protocol": "original", "weights_sha256": None}
    >>> path = write_report(tempfile.mkdtemp(), result, {})
    >>> path.name, "9.5000 ± 0.1000" in path.read_text(encoding="utf-8")
    ('report.html', True)
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
import secrets
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..metrics.diagnostics import MASS_THRESHOLD  # the figures say "holds mass" as the numbers do

__all__ = ["write_report", "REPORT_NAME", "FIGURES", "EXTRAS_KEYS"]

REPORT_NAME = "report.html"
FIGURES = {  # figure -> file written beside the report
    "marginal": "report-marginal.png",
    "splits": "report-splits.png",
    "is_infinity": "report-is-infinity.png",
    "sharpness_diversity": "report-sharpness-diversity.png",
    "confidence": "report-confidence.png",
    "thumbnails": "report-thumbnails.png",
}
EXTRAS_KEYS = ("marginal", "class_names", "confidence_histogram", "most_confident", "least_confident")
WIDTH, HEIGHT = 900, 420  # one figure at 100% zoom
MARGINAL_HEIGHT = 660  # 30 named bars of 18 px
NOTE_HEIGHT = 120  # the PNG written in place of a figure without data
TOP_BARS = 30
THUMB = 96  # thumbnails are shown at most this large
THUMBS_PER_ROW = 8

TEXT, MUTED, GRID, FRAME = (25, 25, 25), (95, 95, 95), (230, 230, 230), (60, 60, 60)
BLUE, ORANGE, RED, GREY, BAND = (31, 119, 180), (221, 110, 15), (200, 30, 45), (150, 150, 150), (206, 224, 243)

Color = tuple[int, int, int]


# -- text ------------------------------------------------------------------------------------------


def _plain(value: object) -> str:
    """``value`` as valid text: the undecodable bytes of a path (surrogateescape) become ``\\xNN``."""
    s = str(value)
    try:
        raw = s.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that is not an escaped byte
        raw = s.encode("utf-8", "backslashreplace")
    return raw.decode("utf-8", "backslashreplace")


def _esc(value: object) -> str:
    return html.escape(_plain(value), quote=True)


def _drawable(value: object) -> str:
    """Text the bundled font can draw: accents dropped, whitespace as spaces, anything else as '?'."""
    out = []
    for c in unicodedata.normalize("NFKD", _plain(value)):
        if " " <= c <= "~" or c in "±·…":
            out.append(c)
        elif c.isspace():
            out.append(" ")
        elif not unicodedata.combining(c):
            out.append("?")
    return "".join(out)


@cache
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap size only
        return ImageFont.load_default()


_SCRATCH = ImageDraw.Draw(Image.new("RGB", (1, 1)))


def _width(s: str, size: int) -> float:
    x0, _, x1, _ = _SCRATCH.textbbox((0, 0), _drawable(s), font=_font(size))
    return x1 - x0


def _fit(s: str, width: float, size: int, keep_end: bool = False) -> str:
    """``s`` shortened with an ellipsis until it is at most ``width`` px wide."""
    s = _drawable(s)
    if _width(s, size) <= width:
        return s
    limit = int(width / 2) + 2  # no glyph is narrower than 2 px: skip what cannot fit in one step
    s = s[-limit:] if keep_end else s[:limit]
    while len(s) > 1:
        s = s[1:] if keep_end else s[:-1]
        shown = "…" + s if keep_end else s.rstrip(" ,") + "…"
        if _width(shown, size) <= width:
            return shown
    return "…"


def _text(
    draw: ImageDraw.ImageDraw,
    xy: tuple[float, float],
    s: str,
    size: int = 14,
    fill: Color = TEXT,
    anchor: str = "lt",
    box: bool = False,
) -> None:
    """Draw ``s`` with its (l|m|r)(t|m|b) point at ``xy``; ``box``: on a white background."""
    font, s = _font(size), _drawable(s)
    x0, _, x1, _ = draw.textbbox((0, 0), s, font=font)
    _, y0, _, y1 = draw.textbbox((0, 0), "Hg", font=font)  # line height, not this string's ink
    x = xy[0] - {"l": x0, "m": (x0 + x1) / 2, "r": x1}[anchor[0]]
    y = xy[1] - {"t": y0, "m": (y0 + y1) / 2, "b": y1}[anchor[1]]
    if box:
        draw.rectangle((x + x0 - 3, y + y0 - 2, x + x1 + 3, y + y1 + 2), fill="white")
    draw.text((x, y), s, font=font, fill=fill)


# -- axes ------------------------------------------------------------------------------------------


def _ticks(lo: float, hi: float, target: int = 6, integer: bool = False) -> list[float]:
    """Round values in [lo, hi], about ``target`` of them, 1/2/2.5/5 x 10^k apart."""
    raw = (hi - lo) / max(target, 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    steps = (1, 2, 5, 10) if integer else (1, 2, 2.5, 5, 10)
    step = next(m * mag for m in steps if m * mag >= raw * (1 - 1e-9))
    if integer:
        step = max(1.0, round(step))
    first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    return [i * step for i in range(first, last + 1)]


def _formatter(ticks: Sequence[float], scale: float = 1.0, suffix: str = "") -> Callable[[float], str]:
    """Tick labels with just enough decimals to tell neighbours apart."""
    step = abs(ticks[1] - ticks[0]) * scale if len(ticks) > 1 else 1.0
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    if round(step / 10 ** math.floor(math.log10(step) + 1e-9), 6) == 2.5:
        decimals += 1

    def fmt(v: float) -> str:
        v *= scale
        return f"{0.0 if abs(v) < step * 1e-6 else v:.{decimals}f}{suffix}"

    return fmt


def _limits(values: Sequence[float], pad: float = 0.08, minimum: float | None = None) -> tuple[float, float]:
    """A range around the finite ``values`` with ``pad`` of it spare on each side."""
    v = [float(x) for x in values if x is not None and math.isfinite(x)]
    lo, hi = (min(v), max(v)) if v else (0.0, 1.0)
    if hi - lo < 1e-12 * max(1.0, abs(hi)):
        half = max(abs(hi) * 0.05, 1e-3)
        lo, hi = lo - half, hi + half
    span = hi - lo
    lo, hi = lo - pad * span, hi + pad * span
    return (lo if minimum is None else max(lo, minimum)), hi


class _Figure:
    """A white canvas: a title, an optional note and legend, and a plot box mapping data to pixels.

    Data drawn before :meth:`finish` is clipped to the box; text drawn after it sits on top.
    """

    def __init__(
        self,
        size: tuple[int, int],
        title: str,
        note: str,
        legend: Sequence[tuple[str, Color, str]],
        xlim: tuple[float, float],
        ylim: tuple[float, float],
        xticks: Sequence[float],
        yticks: Sequence[float],
        left: int = 84,
        right: int = 28,
        bottom: int = 58,
    ) -> None:
        self.image = Image.new("RGB", size, "white")
        self.draw = ImageDraw.Draw(self.image)
        self.title, self.note, self.legend = title, note, legend
        top = 44 + (22 if note else 0) + (24 if legend else 0)
        self.box = (left, top, size[0] - right, size[1] - bottom)
        self.xlim, self.ylim, self.xticks, self.yticks = xlim, ylim, list(xticks), list(yticks)
        l, t, r, b = self.box
        for x in self.xticks:
            self.draw.line((self.px(x), t, self.px(x), b), fill=GRID)
        for y in self.yticks:
            self.draw.line((l, self.py(y), r, self.py(y)), fill=GRID)

    def px(self, x: float) -> float:
        l, _, r, _ = self.box
        return l + (x - self.xlim[0]) / (self.xlim[1] - self.xlim[0]) * (r - l)

    def py(self, y: float) -> float:
        _, t, _, b = self.box
        return b - (y - self.ylim[0]) / (self.ylim[1] - self.ylim[0]) * (b - t)

    def line(self, xs: Sequence[float], ys: Sequence[float], color: Color, width: int = 2, dash: bool = False) -> None:
        pts = [(self.px(x), self.py(y)) for x, y in zip(xs, ys, strict=True)]
        if not dash:
            self.draw.line(pts, fill=color, width=width, joint="curve")
            return
        for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False):
            length = math.hypot(x1 - x0, y1 - y0)
            for s in np.arange(0.0, length, 11.0):
                e = min(s + 6.0, length)
                f0, f1 = s / length, e / length
                self.draw.line(
                    (x0 + f0 * (x1 - x0), y0 + f0 * (y1 - y0), x0 + f1 * (x1 - x0), y0 + f1 * (y1 - y0)),
                    fill=color,
                    width=width,
                )

    def rect(self, x0: float, y0: float, x1: float, y1: float, fill: Color) -> None:
        xa, xb = sorted((self.px(x0), self.px(x1)))
        ya, yb = sorted((self.py(y0), self.py(y1)))
        self.draw.rectangle((xa, ya, xb, yb), fill=fill)

    def marker(self, x: float, y: float, color: Color, shape: str = "dot", r: float = 4.5) -> None:
        _marker(self.draw, self.px(x), self.py(y), color, shape, r)

    def finish(
        self,
        xlabel: str,
        ylabel: str,
        xfmt: Callable[[float], str] | None = None,
        yfmt: Callable[[float], str] | None = None,
    ) -> None:
        d, (w, h), (l, t, r, b) = self.draw, self.image.size, self.box
        for rect in ((0, 0, w, t - 1), (0, b + 1, w, h), (0, 0, l - 1, h), (r + 1, 0, w, h)):  # clip the data
            d.rectangle(rect, fill="white")
        d.rectangle((l, t, r, b), outline=FRAME)
        xfmt = xfmt or _formatter(self.xticks)
        yfmt = yfmt or _formatter(self.yticks)
        for x in self.xticks:
            d.line((self.px(x), b, self.px(x), b + 5), fill=FRAME)
            _text(d, (self.px(x), b + 8), xfmt(x), 13, anchor="mt")
        for y in self.yticks:
            d.line((l - 5, self.py(y), l, self.py(y)), fill=FRAME)
            _text(d, (l - 8, self.py(y)), yfmt(y), 13, anchor="rm")
        _text(d, ((l + r) / 2, h - 8), xlabel, 14, anchor="mb")
        if ylabel:
            label = Image.new("RGBA", (int(_width(ylabel, 14)) + 8, 22), (255, 255, 255, 0))
            _text(ImageDraw.Draw(label), (4, 11), ylabel, 14, anchor="lm")
            label = label.rotate(90, expand=True)
            self.image.paste(label, (6, int((t + b) / 2 - label.height / 2)), label)
        _heading(d, self.title, self.note, self.legend)

    def png(self) -> bytes:
        return _png(self.image)


def _marker(d: ImageDraw.ImageDraw, x: float, y: float, color: Color, shape: str, r: float = 4.5) -> None:
    if shape == "diamond":
        r *= 1.5
        d.polygon(((x, y - r), (x + r, y), (x, y + r), (x - r, y)), fill=color, outline="white")
    else:
        d.ellipse((x - r, y - r, x + r, y + r), fill=color, outline="white")


def _heading(d: ImageDraw.ImageDraw, title: str, note: str, legend: Sequence[tuple[str, Color, str]]) -> None:
    """Title, a one-line note and a legend of (kind, colour, label), kind in dot/diamond/line/dash/band."""
    _text(d, (16, 12), title, 18)
    y = 44
    if note:
        _text(d, (16, y), note, 13, MUTED)
        y += 22
    x = 16.0
    for kind, color, label in legend:
        cy = y + 9
        if kind in ("dot", "diamond"):
            _marker(d, x + 10, cy, color, kind)
        elif kind == "band":
            d.rectangle((x, cy - 6, x + 20, cy + 6), fill=color)
        else:
            for s in (0, 12) if kind == "dash" else (0,):
                d.line((x + s, cy, x + s + (8 if kind == "dash" else 20), cy), fill=color, width=2)
        _text(d, (x + 26, cy), label, 13, anchor="lm")
        x += 26 + _width(label, 13) + 22


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _note_png(title: str, reason: str) -> bytes:
    """The PNG written in place of a figure without data: its title and why it is missing."""
    image = Image.new("RGB", (WIDTH, NOTE_HEIGHT), "white")
    d = ImageDraw.Draw(image)
    _text(d, (16, 12), title, 18)
    _text(d, (16, 48), _fit(f"Not drawn: {reason}.", WIDTH - 32, 14), 14, MUTED)
    d.rectangle((0, 0, WIDTH - 1, NOTE_HEIGHT - 1), outline=GRID)
    return _png(image)


# -- figures: each returns (png, caption) or (None, why it was not drawn) -----------------------------


def _finite(values: Any) -> list[float]:
    return [float(v) for v in (values or []) if v is not None and math.isfinite(v)]


def _num(value: Any, spec: str = ".4f") -> str:
    """``value`` formatted, or "n/a" when it is missing or not a finite number."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not math.isfinite(value):
        return "n/a"
    return format(value, spec)


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else "n/a"


def _short_name(name: str) -> str:
    return _plain(name).split(",")[0].strip() or _plain(name)


def _figure_marginal(result: Mapping[str, Any], extras: Mapping[str, Any]) -> tuple[bytes | None, str]:
    q, names = extras.get("marginal"), extras.get("class_names")
    if q is not None:
        order = np.argsort(-q, kind="stable")[:TOP_BARS]
        rows = [(names[i] if names else f"class {i}", float(q[i]), int(i)) for i in order]
        with_mass = result.get("num_classes_with_mass")
        if with_mass is None:
            with_mass = int((q > MASS_THRESHOLD).sum())
        held = f"{with_mass} of {len(q)} outputs hold mass (q > {MASS_THRESHOLD:g})"
    elif result.get("top_classes"):
        rows = [
            (c.get("name", ""), float(c.get("probability", 0.0)), int(c.get("index", -1)))
            for c in result["top_classes"][:TOP_BARS]
        ]
        with_mass = result.get("num_classes_with_mass")
        held = f"{with_mass} classes hold mass (q > {MASS_THRESHOLD:g})" if with_mass is not None else ""
        held = held or f"the result's top {len(rows)} classes (no marginal given)"
    else:
        return None, "no marginal class distribution (extras['marginal']) and no top classes in the result"
    if _num(result.get("diversity")) != "n/a":
        held += f"; effective number of classes exp(H) = {result['diversity']:.1f}"
    labels = [_fit(f"{_short_name(n)} ({i})", 240, 13) for n, _, i in rows]
    left = int(max(_width(s, 13) for s in labels)) + 22
    xlim = (0.0, max(p for _, p, _ in rows) * 1.16 or 1.0)
    xticks = _ticks(*xlim)
    legend = [("band", BLUE, "mean probability q(y) over all images")]
    if q is not None:
        legend.append(("dash", GREY, f"uniform 1/{len(q)}"))
    fig = _Figure(
        (WIDTH, MARGINAL_HEIGHT),
        f"Marginal class distribution: top {len(rows)} classes",
        held,
        legend,
        xlim,
        (len(rows), 0),
        xticks,
        [],
        left=left,
    )
    for k, (_, p, _) in enumerate(rows):
        fig.rect(0, k + 0.15, p, k + 0.85, BLUE)
    if q is not None:
        fig.line([1 / len(q)] * 2, [0, len(rows)], GREY, 1, dash=True)
    fig.finish("mean probability q(y)", "", xfmt=_formatter(xticks, 100, "%"))
    for k, (label, (_, p, _)) in enumerate(zip(labels, rows, strict=True)):
        _text(fig.draw, (left - 8, fig.py(k + 0.5)), label, 13, anchor="rm")
        _text(fig.draw, (fig.px(p) + 5, fig.py(k + 0.5)), f"{p:.2%}", 12, MUTED, anchor="lm")
    caption = f"The {len(rows)} classes with the largest mean probability over all images; {held}."
    return fig.png(), caption


def _figure_splits(result: Mapping[str, Any], extras: Mapping[str, Any]) -> tuple[bytes | None, str]:
    scores = _finite(result.get("split_scores"))
    if not scores:
        return None, "the result has no per-split scores"
    mean, std = result.get("inception_score_mean"), result.get("inception_score_std")
    ci = _finite(result.get("ci95"))
    have_mean, have_std = _num(mean) != "n/a", _num(std) != "n/a"
    s = len(scores)
    extent = scores + ([mean] if have_mean else []) + ([mean - std, mean + std] if have_mean and have_std else [])
    ylim = _limits(extent + ci, 0.12)
    xticks = _ticks(1, max(s, 2), min(s, 10), integer=True)
    xticks = [x for x in xticks if 1 <= x <= s]
    legend = [("dot", BLUE, "IS of each split")]
    if have_mean:
        legend.append(("line", ORANGE, f"mean {mean:.4f}"))
    if have_mean and have_std:
        legend.append(("band", BAND, f"± std {std:.4f}"))
    if len(ci) == 2:
        legend.append(("dash", MUTED, f"95% interval [{ci[0]:.3f}, {ci[1]:.3f}]"))
    per = f"about {_num(result.get('num_images', 0) / s, ',.0f')} images each" if result.get("num_images") else ""
    note = f"{s} split{'' if s == 1 else 's'}{', ' + per if per else ''}, protocol {result.get('protocol') or 'n/a'}"
    fig = _Figure(
        (WIDTH, HEIGHT), "Inception Score of each split", note, legend, (0.5, s + 0.5), ylim, xticks, _ticks(*ylim)
    )
    if have_mean and have_std:
        fig.rect(0.5, mean - std, s + 0.5, mean + std, BAND)
    if have_mean:
        fig.line([0.5, s + 0.5], [mean, mean], ORANGE, 2)
    for v in ci if len(ci) == 2 else []:
        fig.line([0.5, s + 0.5], [v, v], MUTED, 1, dash=True)
    for k, v in enumerate(scores):
        fig.marker(k + 1, v, BLUE, r=4.5 if s <= 50 else 3)
    fig.finish("split", "Inception Score")
    return fig.png(), f"The score of each of the {s} splits, their mean and ± one standard deviation (ddof 0)."


def _figure_is_infinity(result: Mapping[str, Any], extras: Mapping[str, Any]) -> tuple[bytes | None, str]:
    fit = result.get("is_infinity_fit") or {}
    pairs = [
        (int(n), float(v))
        for n, v in zip(fit.get("n") or [], fit.get("is_n") or [], strict=False)
        if n and math.isfinite(v)
    ]
    is_inf, slope = fit.get("is_infinity", result.get("is_infinity")), fit.get("slope")
    if len(pairs) < 2 or _num(is_inf) == "n/a" or _num(slope) == "n/a":
        return None, "IS_inf was not computed for this run (no fit of IS_N against 1/N in the result)"
    xs, ys = [1 / n for n, _ in pairs], [v for _, v in pairs]
    xmax = max(xs)
    xlim, ylim = (-0.05 * xmax, 1.06 * xmax), _limits(ys + [is_inf, is_inf + slope * xmax], 0.12)
    room = 0.12 * (ylim[1] - ylim[0])  # for the IS_inf label, on the side the line leaves free
    ylim = (ylim[0], ylim[1] + room) if slope <= 0 else (ylim[0] - room, ylim[1])
    xticks = [x for x in _ticks(0, xmax, 6) if x <= xlim[1]]
    exponent = math.floor(math.log10(max(xticks))) if max(xticks) < 0.01 else 0
    xfmt = _formatter(xticks, 10.0**-exponent)
    xlabel = f"1/N  (x 1e{exponent})" if exponent else "1/N"
    r2 = _num(fit.get("r2"))
    legend = [
        ("dot", BLUE, "IS_N: one split of the first N images"),
        ("line", ORANGE, "least-squares fit"),
        ("dash", ORANGE, "extrapolation"),
        ("diamond", RED, f"IS_inf = {is_inf:.4f}"),
    ]
    note = f"IS_N = IS_inf + slope / N over N = {min(n for n, _ in pairs):,}..{max(n for n, _ in pairs):,}: "
    note += f"slope {slope:.4g}, R^2 {r2} (Chong & Forsyth 2020)"
    fig = _Figure(
        (WIDTH, HEIGHT),
        "Inception Score against 1/N, extrapolated to infinitely many images",
        note,
        legend,
        xlim,
        ylim,
        xticks,
        _ticks(*ylim),
    )
    lo, hi = min(xs), xmax
    fig.line([0, lo], [is_inf, is_inf + slope * lo], ORANGE, 2, dash=True)
    fig.line([lo, hi], [is_inf + slope * lo, is_inf + slope * hi], ORANGE, 2)
    for x, y in zip(xs, ys, strict=True):
        fig.marker(x, y, BLUE)
    fig.marker(0, is_inf, RED, "diamond")
    fig.finish(xlabel, "IS_N", xfmt=xfmt)
    up = slope <= 0  # the line falls to the right: the label above it is free
    _text(
        fig.draw,
        (fig.px(0) + 14, fig.py(is_inf) + (-12 if up else 12)),
        f"IS_inf = {is_inf:.4f}",
        14,
        RED,
        anchor="lb" if up else "lt",
        box=True,
    )
    for n, v in (min(pairs), max(pairs)):
        above = v >= is_inf + slope / n  # the side away from the line, unless the frame is in the way
        above = fig.py(v) - 30 > fig.box[1] if above else fig.py(v) + 30 > fig.box[3]
        side = (fig.py(v) - 10, "mb") if above else (fig.py(v) + 10, "mt")
        _text(fig.draw, (fig.px(1 / n), side[0]), f"N={n:,}", 12, MUTED, anchor=side[1], box=True)
    caption = (
        f"IS of one split of the first N images against 1/N; the fitted line meets 1/N = 0 at IS_inf = "
        f"{is_inf:.4f}, an estimate free of the bias that makes IS grow with N."
    )
    return fig.png(), caption


def _figure_sharpness_diversity(result: Mapping[str, Any], extras: Mapping[str, Any]) -> tuple[bytes | None, str]:
    pairs = [
        (float(s), float(d))
        for s, d in zip(result.get("split_sharpness") or [], result.get("split_diversity") or [], strict=False)
        if s is not None and d is not None and math.isfinite(s) and math.isfinite(d) and s > 0 and d > 0
    ]
    sharp, div = result.get("sharpness"), result.get("diversity")
    overall = _num(sharp) != "n/a" and _num(div) != "n/a" and sharp > 0 and div > 0
    if not pairs and not overall:
        return None, "the result has no sharpness and diversity (per split or of all images)"
    xs = [s for s, _ in pairs] + ([sharp] if overall else [])
    ys = [d for _, d in pairs] + ([div] if overall else [])
    xlim, ylim = _limits(xs, 0.15, minimum=1e-9), _limits(ys, 0.15, minimum=1e-9)
    lo, hi = xlim[0] * ylim[0], xlim[1] * ylim[1]
    levels = [c for c in _ticks(lo, hi, 5) if lo < c < hi]
    if len(levels) > 3:
        levels = levels[:: math.ceil(len(levels) / 3)]
    legend = [("line", GREY, "iso-IS: sharpness x diversity = const")]
    if pairs:
        legend.insert(0, ("dot", BLUE, "split"))
    if overall:
        legend.insert(len(legend) - 1, ("diamond", ORANGE, "all images as one split"))
    fig = _Figure(
        (WIDTH, HEIGHT),
        "Sharpness against diversity",
        "IS = sharpness x diversity: up and to the right is a higher score; each grey curve is one IS",
        legend,
        xlim,
        ylim,
        _ticks(*xlim),
        _ticks(*ylim),
    )
    grid = np.linspace(xlim[0], xlim[1], 240)
    for c in levels:
        fig.line(list(grid), list(c / grid), GREY, 2)
    for s, d in pairs:
        fig.marker(s, d, BLUE, r=4.5 if len(pairs) <= 50 else 3)
    if overall:
        fig.marker(sharp, div, ORANGE, "diamond")
    fig.finish("sharpness  exp(-E H(y|x))", "diversity  exp(H(y))")
    lfmt = _formatter(levels) if len(levels) > 1 else (lambda v: f"{v:.4g}")
    for c in levels:  # a label where the curve leaves the box, on the side it has left
        if c / xlim[1] >= ylim[0]:  # through the right edge: below the falling curve
            _text(fig.draw, (fig.box[2] - 6, fig.py(c / xlim[1]) + 5), f"IS {lfmt(c)}", 12, MUTED, "rt", box=True)
        else:  # through the bottom edge: to its right
            _text(fig.draw, (fig.px(c / ylim[0]) + 6, fig.box[3] - 4), f"IS {lfmt(c)}", 12, MUTED, "lb", box=True)
    caption = (
        "Each split's sharpness exp(-E H(y|x)) against its diversity exp(H(y)); the split's IS is their "
        "product. The grey curves join points of equal IS."
    )
    return fig.png(), caption


def _figure_confidence(result: Mapping[str, Any], extras: Mapping[str, Any]) -> tuple[bytes | None, str]:
    hist = extras.get("confidence_histogram")
    if hist is None:
        return None, "no histogram of top-1 confidence was given (extras['confidence_histogram'])"
    edges, counts = hist["edges"], hist["counts"]
    xlim, ylim = (float(edges[0]), float(edges[-1])), (0.0, max(float(counts.max()) * 1.1, 1.0))
    mean = result.get("mean_top1_confidence")
    legend = [("band", BLUE, "images per bin")]
    if _num(mean) != "n/a":
        legend.append(("dash", ORANGE, f"mean {mean:.3f}"))
    note = f"{int(counts.sum()):,} images in {len(counts)} bins"
    fig = _Figure(
        (WIDTH, HEIGHT),
        "Top-1 confidence of each image",
        note,
        legend,
        xlim,
        ylim,
        _ticks(*xlim),
        _ticks(*ylim, integer=True),
    )
    for a, b, c in zip(edges[:-1], edges[1:], counts, strict=True):
        if c > 0:
            fig.rect(a, 0, b, c, BLUE)
            fig.draw.line((fig.px(b), fig.py(c), fig.px(b), fig.py(0)), fill="white")  # a gap between bars
    if _num(mean) != "n/a":
        fig.line([mean, mean], list(ylim), ORANGE, 2, dash=True)
    fig.finish("top-1 probability  max_y p(y|x)", "images")
    caption = "How sure the network is of each image: the histogram of its largest class probability."
    return fig.png(), caption


def _figure_thumbnails(result: Mapping[str, Any], extras: Mapping[str, Any]) -> tuple[bytes | None, str]:
    rows = [
        ("Most confident", extras.get("most_confident") or []),
        ("Least confident", extras.get("least_confident") or []),
    ]
    if not any(items for _, items in rows):
        return None, "no thumbnails were given (extras['most_confident'], extras['least_confident'])"
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    d = ImageDraw.Draw(image)
    _text(d, (16, 12), "Most and least confident images", 18)
    cell = (WIDTH - 32) / THUMBS_PER_ROW
    for r, (title, items) in enumerate(rows):
        y0 = 46 + r * 186
        shown = items[:THUMBS_PER_ROW]
        _text(d, (16, y0), f"{title} ({len(shown)} of {len(items)})" if len(items) > len(shown) else title, 14)
        if not shown:
            _text(d, (16, y0 + 60), "none given", 13, MUTED)
        for j, item in enumerate(shown):
            cx, top = 16 + (j + 0.5) * cell, y0 + 24
            thumb = item.get("thumbnail")
            if thumb is not None:
                im = Image.fromarray(thumb).convert("RGB")
                im.thumbnail((THUMB, THUMB))
                x, y = int(cx - im.width / 2), int(top + (THUMB - im.height) / 2)
                image.paste(im, (x, y))
                d.rectangle((x - 1, y - 1, x + im.width, y + im.height), outline=GRID)
            else:
                d.rectangle((cx - THUMB / 2, top, cx + THUMB / 2, top + THUMB), outline=GRID)
                _text(d, (cx, top + THUMB / 2), "no image", 12, MUTED, "mm")
            name = _fit(_short_name(item.get("class_name", "")), cell - 8, 12)
            raw = str(item.get("label", f"image {item.get('index', '?')}"))
            label = _plain(raw.replace("\\", "/").rsplit("/", 1)[-1])  # the file name, before \xNN escapes
            _text(d, (cx, top + THUMB + 6), name, 12, anchor="mt")
            _text(d, (cx, top + THUMB + 22), f"p = {_num(item.get('confidence'), '.3f')}", 12, anchor="mt")
            _text(d, (cx, top + THUMB + 38), _fit(label, cell - 8, 11, keep_end=True), 11, MUTED, anchor="mt")
    caption = (
        "The images the network is surest and least sure of, with their top-1 class and its probability "
        "(the files are listed below)."
    )
    return _png(image), caption


_FIGURES: dict[str, tuple[str, Callable[..., tuple[bytes | None, str]]]] = {
    "marginal": ("Marginal class distribution", _figure_marginal),
    "splits": ("Inception Score of each split", _figure_splits),
    "is_infinity": ("IS against 1/N", _figure_is_infinity),
    "sharpness_diversity": ("Sharpness against diversity", _figure_sharpness_diversity),
    "confidence": ("Top-1 confidence", _figure_confidence),
    "thumbnails": ("Most and least confident images", _figure_thumbnails),
}


# -- the page ----------------------------------------------------------------------------------------

_CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: #222; max-width: 940px; margin: 24px auto; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; }
.headline { font-size: 40px; font-weight: 650; margin: 4px 0; font-variant-numeric: tabular-nums; }
.sub { color: #555; margin: 0 0 12px; }
table { border-collapse: collapse; margin: 6px 0; } th, td { padding: 3px 10px 3px 0; text-align: left;
        border-bottom: 1px solid #eee; vertical-align: top; } th { color: #555; font-weight: 600; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 13px; word-break: break-all; }
.warnings { background: #fff5e6; border: 1px solid #e8a33d; border-left: 6px solid #e8a33d; padding: 6px 16px;
            margin: 16px 0; } .warnings h2 { border: 0; margin: 6px 0; color: #8a4b00; }
.ok { background: #eef7ee; border-left: 6px solid #5a9e5a; padding: 6px 16px; }
.note { color: #666; font-style: italic; }
figure { margin: 20px 0; } figure img { max-width: 100%; height: auto; border: 1px solid #e4e4e4; }
figcaption { color: #444; font-size: 14px; margin-top: 4px; } figcaption code { white-space: nowrap; }
footer { color: #777; font-size: 13px; margin: 32px 0 12px; }
"""


def _rows(pairs: Sequence[tuple[str, str]]) -> str:
    return "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in pairs)


def _page(result: Mapping[str, Any], extras: Mapping[str, Any], figures: Mapping[str, tuple[bytes | None, str]]) -> str:
    g = result.get
    n, splits = g("num_images"), g("splits")
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Inception Score {_esc(_num(g('inception_score_mean')))}</title><style>{_CSS}</style></head><body>",
        "<h1>Inception Score</h1>",
        f'<p class="headline">{_esc(_num(g("inception_score_mean")))} ± {_esc(_num(g("inception_score_std")))}</p>',
        f'<p class="sub">{_count(n)} images · {_count(splits)} split{"" if splits == 1 else "s"} · '
        f"protocol {_esc(g('protocol') or 'n/a')} · mean ± std over the splits (ddof 0)</p>",
    ]
    numbers = []
    ci = _finite(g("ci95"))
    if len(ci) == 2:
        numbers.append(
            (
                "95% interval",
                f"[{ci[0]:.4f}, {ci[1]:.4f}]: mean ± 1.96 bootstrap std over images "
                f"({_esc(g('bootstrap_replicates') or 0)} Poisson replicates)",
            )
        )
    else:
        numbers.append(("95% interval", '<span class="note">not computed (no bootstrap replicates)</span>'))
    fit = g("is_infinity_fit") or {}
    if _num(g("is_infinity")) != "n/a":
        numbers.append(
            (
                "IS at infinite N",
                f"{g('is_infinity'):.4f}: IS_N of one split extrapolated to 1/N = 0 "
                f"(Chong &amp; Forsyth 2020), R² of the fit {_esc(_num(fit.get('r2')))}",
            )
        )
    else:
        numbers.append(("IS at infinite N", '<span class="note">not computed</span>'))
    if _num(g("inception_score_one_split")) != "n/a":
        numbers.append(("All images as one split", f"{g('inception_score_one_split'):.4f}"))
    out.append(f"<table>{_rows(numbers)}</table>")

    out.append("<h2>What the score is made of</h2>")
    if _num(g("sharpness")) != "n/a" and _num(g("diversity")) != "n/a":
        out.append(
            f"<p>ln IS = H(y) − E<sub>x</sub> H(y|x), so for all images as one split IS = sharpness × diversity = "
            f"{g('sharpness'):.4f} × {g('diversity'):.2f} = {g('sharpness') * g('diversity'):.4f}.</p><ul>"
            f"<li><b>Sharpness</b> exp(−E H(y|x)) = {g('sharpness'):.4f}: the reciprocal of the effective number of "
            "classes each image is spread over; 1 when the network is certain of every image.</li>"
            f"<li><b>Diversity</b> exp(H(y)) = {g('diversity'):.2f}: the effective number of classes the whole set "
            "covers (at most 1,000); low when the images collapse onto few classes.</li></ul>"
        )
    else:
        out.append('<p class="note">Sharpness and diversity were not computed for this run.</p>')
    facts = []
    if _num(g("mean_top1_confidence")) != "n/a":
        facts.append(("Mean top-1 probability", f"{g('mean_top1_confidence'):.3f}"))
    if g("num_classes_with_mass") is not None:
        facts.append(("Classes holding mass", f"{_esc(g('num_classes_with_mass'))} (mean probability > 1e-4)"))
    if g("num_classes_top1") is not None:
        facts.append(("Classes that are some image's top-1", _esc(g("num_classes_top1"))))
    if g("num_classes_never_top1") is not None:
        never = "; ".join(_esc(s) for s in g("classes_never_top1") or [])
        shown = len(g("classes_never_top1") or [])
        more = f" (first {shown}: {never})" if never else ""
        facts.append(("Classes never top-1", f"{_esc(g('num_classes_never_top1'))}{more}"))
    if facts:
        out.append(f"<table>{_rows(facts)}</table>")

    warnings = g("warnings") or []
    if warnings:
        items = "".join(f"<li>{_esc(w)}</li>" for w in warnings)
        out.append(f'<div class="warnings"><h2>Warnings ({len(warnings)})</h2><ul>{items}</ul></div>')
    else:
        out.append('<p class="ok">No warnings.</p>')

    out.append("<h2>Top classes</h2>")
    top = g("top_classes") or []
    if top:
        body = "".join(
            f'<tr><td class="num">{k}</td><td class="num">{_esc(c.get("index", ""))}</td><td>{_esc(c.get("name", ""))}'
            f'</td><td class="num">{_esc(_num(c.get("probability"), ".2%"))}</td>'
            f'<td class="num">{_esc(c.get("top1_count", ""))}</td></tr>'
            for k, c in enumerate(top, 1)
        )
        out.append(
            "<table><tr><th>rank</th><th>output</th><th>class</th><th>mean probability</th><th>top-1 images</th>"
            f"</tr>{body}</table>"
        )
    else:
        out.append('<p class="note">No class diagnostics in the result.</p>')

    out.append("<h2>Provenance</h2>")
    sha = g("weights_sha256")
    prov = [("Weights sha256", f"<code>{_esc(sha)}</code>" if sha else '<span class="note">unknown</span>')]
    for key, label in (("weights_path", "Weights file"), ("weights_source", "Weights source")):
        if g(key):
            prov.append((label, f"<code>{_esc(g(key))}</code>"))
    prov += [
        ("inception-score", _esc(g("package_version") or "n/a")),
        ("torch", _esc(g("torch_version") or "n/a")),
        ("Device", _esc(g("device") or "n/a")),
        ("Precision", _esc(g("precision") or "n/a")),
    ]
    check = g("precision_check") or {}
    if check:
        prov.append(("Precision check", _esc(", ".join(f"{k} {v:.6g}" for k, v in check.items()))))
    sources = [_esc(s) for s in g("sources") or []]
    if sources:
        listed = "<br>".join(f"<code>{s}</code>" for s in sources[:50])
        more = f"<br>… and {len(sources) - 50} more" if len(sources) > 50 else ""
        prov.append((f"Sources ({len(sources)})", listed + more))
    if g("elapsed_s"):
        prov.append(
            (
                "Time",
                f"{g('elapsed_s'):.1f} s"
                + (f", {g('images_per_second'):.1f} images/s" if g("images_per_second") else ""),
            )
        )
    prov.append(("Skipped files", _esc(g("num_skipped") or 0)))
    out.append(f"<table>{_rows(prov)}</table>")
    skipped = g("skipped") or []
    if skipped:
        items = "".join(
            f"<li><code>{_esc(s.get('path', ''))}</code>: {_esc(s.get('reason', ''))}</li>" for s in skipped[:200]
        )
        out.append(f"<details><summary>{len(skipped)} skipped files</summary><ul>{items}</ul></details>")

    out.append("<h2>Figures</h2>")
    for key, (title, _) in _FIGURES.items():
        png, text = figures[key]
        if png is None:
            out.append(f'<p class="note">{_esc(title)}: not drawn, {_esc(text)}.</p>')
            continue
        with Image.open(io.BytesIO(png)) as im:
            w, h = im.size
        data = base64.b64encode(png).decode("ascii")
        out.append(
            f'<figure id="{key}"><img src="data:image/png;base64,{data}" width="{w}" height="{h}" alt="{_esc(title)}">'
            f"<figcaption>{_esc(text)} <code>{_esc(FIGURES[key])}</code></figcaption></figure>"
        )
        if key == "thumbnails":
            out.append(_thumbnail_table(extras))
    out.append(
        f"<footer>Written by inception-score {_esc(g('package_version') or '')}".rstrip()
        + ". This page is self-contained: the "
        "figures are embedded and also saved beside it as PNG files; it loads nothing from the network.</footer>"
    )
    out.append("</body></html>\n")
    return "\n".join(out)


def _thumbnail_table(extras: Mapping[str, Any]) -> str:
    rows = []
    for title, key in (("most confident", "most_confident"), ("least confident", "least_confident")):
        for k, item in enumerate((extras.get(key) or [])[:THUMBS_PER_ROW], 1):
            rows.append(
                f'<tr><td>{title}</td><td class="num">{k}</td><td class="num">{_esc(item.get("index", ""))}</td>'
                f"<td><code>{_esc(item.get('label', ''))}</code></td><td>{_esc(item.get('class_name', ''))}</td>"
                f'<td class="num">{_esc(_num(item.get("confidence"), ".3f"))}</td></tr>'
            )
    head = "<tr><th></th><th>#</th><th>image</th><th>source</th><th>top-1 class</th><th>probability</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


# -- inputs and files --------------------------------------------------------------------------------


def _check_extras(extras: Mapping[str, Any]) -> dict[str, Any]:
    """``extras`` with arrays as numpy; a ValueError names the key, what it got and what it accepts."""
    unknown = sorted(set(extras) - set(EXTRAS_KEYS))
    if unknown:
        raise ValueError(f"extras: unknown key(s) {unknown}; accepted: {list(EXTRAS_KEYS)}")
    out = {k: v for k, v in extras.items() if v is not None}
    if "marginal" in out:
        out["marginal"] = q = _array(out["marginal"], "extras['marginal']", "a non-empty list of C floats")
        if q.ndim != 1 or q.size == 0:
            raise ValueError(f"extras['marginal'] has shape {q.shape}; expected a non-empty list of C floats")
    if "class_names" in out:
        names = [str(s) for s in out["class_names"]]
        if "marginal" in out and len(names) != len(out["marginal"]):
            raise ValueError(
                f"extras['class_names'] has {len(names)} names for {len(out['marginal'])} classes "
                "in extras['marginal']; expected one name per class"
            )
        out["class_names"] = names
    if "confidence_histogram" in out:
        hist = out["confidence_histogram"]
        if not isinstance(hist, Mapping) or not {"edges", "counts"} <= set(hist):
            raise ValueError(
                f"extras['confidence_histogram'] is {type(hist).__name__} with keys "
                f"{sorted(hist) if isinstance(hist, Mapping) else None}; expected "
                "{'edges': B+1 floats, 'counts': B ints}"
            )
        edges = _array(hist["edges"], "extras['confidence_histogram']['edges']", "B+1 floats")
        counts = _array(hist["counts"], "extras['confidence_histogram']['counts']", "B ints")
        if edges.ndim != 1 or counts.ndim != 1 or len(edges) != len(counts) + 1 or len(counts) == 0:
            raise ValueError(
                f"extras['confidence_histogram'] has {edges.size} edges and {counts.size} counts; "
                "expected B+1 edges and B counts, B >= 1"
            )
        if not edges[-1] > edges[0]:
            raise ValueError(
                f"extras['confidence_histogram']['edges'] run from {edges[0]} to {edges[-1]}; expected increasing edges"
            )
        out["confidence_histogram"] = {"edges": edges, "counts": counts}
    for key in ("most_confident", "least_confident"):
        out[key] = items = list(out.get(key, []))  # a copy: thumbnails are normalised below
        for k, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise ValueError(f"extras[{key!r}][{k}] is {type(item).__name__}; expected a dict")
            thumb = item.get("thumbnail")
            if thumb is None:
                continue
            thumb = np.asarray(thumb)
            if thumb.dtype != np.uint8 or not (thumb.ndim == 2 or (thumb.ndim == 3 and thumb.shape[2] in (1, 3, 4))):
                raise ValueError(
                    f"extras[{key!r}][{k}]['thumbnail'] is {thumb.dtype} {thumb.shape}; expected a "
                    "uint8 H x W x 3 array"
                )
            if thumb.ndim == 3 and thumb.shape[2] == 1:
                thumb = thumb[:, :, 0]
            items[k] = {**item, "thumbnail": thumb}
    return out


def _array(value: Any, name: str, expected: str) -> np.ndarray:
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} could not be read as numbers ({e}); expected {expected}") from None
    if not np.isfinite(a).all():
        raise ValueError(f"{name} holds NaN or infinite values; expected {expected}")
    return a


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``path`` under a temporary name beside it, then move it into place."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    # os.open rather than mkstemp: the file gets the usual mode (0666 less the umask), not 0600.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_report_dependencies() -> None:
    """Nothing beyond the core dependencies is needed yet (the figures are drawn with Pillow)."""


def write_report(
    directory: str | os.PathLike[str], result: Mapping[str, Any], extras: Mapping[str, Any] | None = None
) -> Path:
    """Write ``report.html`` and its PNG figures (:data:`FIGURES`) into ``directory``; return the page's path.

    ``result`` is :meth:`Result.to_dict() <inception_score.report.Result.to_dict>` (a ``Result`` is
    accepted too); any optional field may be None or empty, and its figure is then replaced by a note.
    ``extras`` may hold :data:`EXTRAS_KEYS`: ``marginal`` (C floats) and ``class_names`` (C strings),
    ``confidence_histogram`` (``{"edges": B+1 floats, "counts": B ints}``), and ``most_confident`` /
    ``least_confident`` (lists of ``{"index", "label", "confidence", "class_name", "thumbnail"}``, the
    thumbnail a uint8 H x W x 3 array). ``directory`` is created if needed; the files of these names
    are replaced atomically, and nothing else in it is touched.

    Raises:
        ValueError: ``extras`` has an unknown key or a value of the wrong shape.
    """
    if hasattr(result, "to_dict"):
        result = result.to_dict()
    extras = _check_extras(extras or {})
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    figures = {key: draw(result, extras) for key, (_, draw) in _FIGURES.items()}
    for key, (png, text) in figures.items():
        _write_atomic(out / FIGURES[key], png if png is not None else _note_png(_FIGURES[key][0], text))
    page = out / REPORT_NAME
    _write_atomic(page, _page(result, extras, figures).encode("utf-8"))  # last: the figures it names are in place
    return page
