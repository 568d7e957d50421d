"""The report's figures, drawn with matplotlib from a :class:`~inception_score.report.data.ReportData`.

Each figure is a function of the report data that returns a :class:`Drawing`: the PNG and its
caption, or, when the data it needs is missing, a small PNG that says why (so that a re-run never
leaves an earlier run's figure beside a newer page). :func:`draw` draws the figures asked for.

Deviations from the obvious implementation, each for a reason:

* matplotlib is imported inside the functions, and only ``matplotlib.figure.Figure`` objects on an
  Agg canvas are used, never pyplot: no window, no global figure list, the user's backend left
  alone; the 'report' extra installs it, and the rest of the package works without it;
* the figures are drawn inside ``matplotlib.style.context`` from matplotlib's defaults plus the
  report's style, so a user's style (a dark background, ``text.usetex``) neither changes the
  report nor is changed by it; mathtext is off, so a ``$`` in a file name is just a ``$``;
* text from outside (class names, file names) has its control characters and undecodable bytes
  shown as escapes (``\\x1b``, ``\\xff``), and characters the bundled DejaVu Sans cannot draw
  shown as ``?``, so that no figure depends on the fonts of the machine it was drawn on;
* the figures are drawn at :data:`SCALE` device pixels per CSS pixel, so that they stay sharp on
  high-density screens and slides; the page shows them at :data:`WIDTH` CSS pixels.

Example:
    >>> from inception_score.report.data import ReportData
    >>> drawings = draw(["splits", "confidence"], ReportData({"split_scores": [9.4, 9.6]}))
    >>> drawings["splits"].drawn, drawings["splits"].size, drawings["splits"].png[:4]
    (True, (900, 420), b'\\x89PNG')
    >>> drawings["confidence"].drawn, drawings["confidence"].text
    (False, 'no histogram of top-1 confidence in the report data')
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ..errors import printable
from ..metrics.diagnostics import MASS_THRESHOLD  # the figure says "holds mass" as the numbers do
from .data import ReportData, ReportImage, as_number, as_numbers

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "Drawing",
    "draw",
    "TITLES",
    "WIDTH",
    "HEIGHT",
    "MARGINAL_HEIGHT",
    "NOTE_HEIGHT",
    "SCALE",
    "THUMBS_PER_ROW",
]

WIDTH, HEIGHT = 900, 420  # one figure, in CSS pixels
MARGINAL_HEIGHT = 660  # 30 named bars
NOTE_HEIGHT = 120  # the PNG drawn in place of a figure without data
SCALE = 2  # device pixels per CSS pixel
TOP_BARS = 30
THUMB = 96  # thumbnails are shown at most this large (CSS pixels)
THUMBS_PER_ROW = 8

TEXT, MUTED, GRID, FRAME = "#191919", "#5f5f5f", "#e6e6e6", "#3c3c3c"
BLUE, ORANGE, RED, GREY, BAND = "#1f77b4", "#dd6e0f", "#c81e2d", "#969696", "#cee0f3"

_PX = 1 / 100  # inches per CSS pixel: figures are drawn at 100 * SCALE dpi
_STYLE = {
    "font.family": "DejaVu Sans",  # bundled with matplotlib: the same glyphs on every machine
    "font.size": 9.5,
    "text.parse_math": False,
    "text.usetex": False,
    "axes.edgecolor": FRAME,
    "axes.grid": True,
    "axes.axisbelow": True,
    "axes.labelsize": 10,
    "axes.formatter.useoffset": False,
    "grid.color": GRID,
    "grid.linewidth": 0.8,
    "xtick.color": FRAME,
    "ytick.color": FRAME,
    "xtick.labelcolor": TEXT,
    "ytick.labelcolor": TEXT,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "lines.solid_capstyle": "round",
}


class Drawing(NamedTuple):
    """A figure as the page shows it: the PNG, whether it holds the figure or a note, and the text.

    ``png`` is the figure, or a small PNG saying why it was not drawn; ``text`` is the caption,
    or that reason; ``size`` is (width, height) in CSS pixels, the PNG having :data:`SCALE` times
    as many.
    """

    png: bytes
    drawn: bool
    text: str
    size: tuple[int, int]


# -- text and layout -------------------------------------------------------------------------------


@cache
def _charmap() -> frozenset[int]:
    from matplotlib import font_manager

    path = font_manager.findfont(font_manager.FontProperties(family=_STYLE["font.family"]))
    return frozenset(font_manager.get_font(path).get_charmap())


def _safe(value: object) -> str:
    """Text from outside as the figure can show it: escapes for control characters, '?' for no glyph."""
    chars = _charmap()
    return "".join(c if ord(c) in chars else "?" for c in printable(value))


def _short_name(name: object) -> str:
    """The first of a class's names ("revolver, six-gun" -> "revolver")."""
    text = _safe(name)
    return text.split(",")[0].strip() or text


def _fit(artist: Any, width_px: float, keep_end: bool = False) -> None:
    """Shorten a text artist with an ellipsis until it is at most ``width_px`` CSS pixels wide."""
    renderer = artist.get_figure().canvas.get_renderer()
    full = artist.get_text()

    def fits(s: str) -> bool:
        artist.set_text(s)
        return artist.get_window_extent(renderer).width <= width_px * SCALE

    if fits(full):
        return
    lo, hi = 0, len(full)  # the longest kept part that fits: binary search on its length
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits("…" + full[-mid:] if keep_end else full[:mid].rstrip(" ,") + "…"):
            lo = mid
        else:
            hi = mid - 1
    artist.set_text(("…" + full[-lo:] if keep_end else full[:lo].rstrip(" ,") + "…") if lo else "…")


def _new_figure(height: int) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    fig = Figure(
        figsize=(WIDTH * _PX, height * _PX),
        dpi=100 * SCALE,
        layout=ConstrainedLayoutEngine(w_pad=14 * _PX, h_pad=8 * _PX),
    )
    FigureCanvasAgg(fig)
    return fig


def _text(fig: Figure, x: float, y: float, s: str, **kw: Any) -> Any:
    """Text with its top-left corner (by default) ``x``, ``y`` CSS pixels from the figure's top left."""
    height = fig.get_figheight() / _PX
    kw = {"ha": "left", "va": "top", "color": TEXT, **kw}
    return fig.text(x * _PX, (height - y) * _PX, s, transform=fig.dpi_scale_trans, **kw)


def _header(fig: Figure, title: str, note: str = "", legend: Sequence[tuple[Any, str]] = ()) -> None:
    """A title, a one-line note and a legend row at the top; the plot is laid out below them."""
    height = fig.get_figheight() / _PX
    _text(fig, 16, 11, title, fontsize=13)
    y = 40.0
    if note:
        _fit(_text(fig, 16, y, note, fontsize=9, color=MUTED), WIDTH - 32)
        y += 20
    if legend:
        handles, labels = zip(*legend, strict=True)
        for rows in (1, 2, 3):
            box = fig.legend(
                handles,
                labels,
                loc="upper left",
                bbox_to_anchor=(10 * _PX, (height - y + 3) * _PX),
                bbox_transform=fig.dpi_scale_trans,
                ncols=math.ceil(len(handles) / rows),
                frameon=False,
                borderaxespad=0,
                handlelength=1.8,
                handletextpad=0.6,
                columnspacing=1.8,
            )
            extent = box.get_window_extent(fig.canvas.get_renderer())
            if extent.width <= (WIDTH - 20) * SCALE or rows == 3:
                break
            box.remove()
        y += extent.height / SCALE + 4
    fig.get_layout_engine().set(rect=(0, 0, 1, 1 - (y + 4) / height))


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100 * SCALE, metadata={"Software": None})
    return buf.getvalue()


def _drawn(fig: Figure, caption: str) -> Drawing:
    height = round(fig.get_figheight() / _PX)
    return Drawing(_png(fig), True, caption, (WIDTH, height))


def _note(title: str, reason: str) -> Drawing:
    """The small PNG drawn in place of a figure without data: its title and why it is missing."""
    from matplotlib.patches import Rectangle

    fig = _new_figure(NOTE_HEIGHT)
    fig.set_layout_engine("none")
    _text(fig, 16, 11, title, fontsize=13)
    _fit(_text(fig, 16, 50, f"Not drawn: {reason}.", fontsize=10, color=MUTED), WIDTH - 32)
    fig.add_artist(Rectangle((0, 0), 1, 1, transform=fig.transFigure, fill=False, edgecolor=GRID, linewidth=2))
    return Drawing(_png(fig), False, reason, (WIDTH, NOTE_HEIGHT))


def _limits(values: Iterable[float], pad: float = 0.08) -> tuple[float, float]:
    """A range around ``values`` with ``pad`` of it spare on each side (never empty)."""
    v = [x for x in values if math.isfinite(x)]
    lo, hi = (min(v), max(v)) if v else (0.0, 1.0)
    if hi - lo < 1e-12 * max(1.0, abs(hi)):
        half = max(abs(hi) * 0.05, 1e-3)
        lo, hi = lo - half, hi + half
    span = hi - lo
    return lo - pad * span, hi + pad * span


def _handle(kind: str, color: str) -> Any:
    """A legend entry's symbol: dot, diamond, line, dash or band."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    if kind == "band":
        return Patch(facecolor=color, edgecolor="none")
    if kind in ("dot", "diamond"):
        marker, size = ("o", 7) if kind == "dot" else ("D", 7)
        return Line2D([], [], ls="none", marker=marker, ms=size, color=color, mec="white")
    return Line2D([], [], color=color, lw=2, ls="--" if kind == "dash" else "-")


# -- the figures: each returns a Drawing, or the reason it cannot be drawn --------------------------


def _marginal(data: ReportData) -> Drawing | str:
    result, q, names = data.result, data.marginal, data.class_names
    if q is not None:
        # outputs that are not classes (the 2015 graph's 0 and 1001..1007, named "unused") are not ranked
        order = [i for i in np.argsort(-q, kind="stable") if not (names and names[i] == "unused")][:TOP_BARS]
        rows = [(names[i] if names else f"class {i}", float(q[i]), int(i)) for i in order]
        with_mass = result.get("num_classes_with_mass")
        if not isinstance(with_mass, int):
            with_mass = int((q > MASS_THRESHOLD).sum())
        held = f"{with_mass} of {len(q)} outputs hold mass (q > {MASS_THRESHOLD:g})"
    elif isinstance(result.get("top_classes"), list) and result["top_classes"]:
        rows = []
        for c in result["top_classes"][:TOP_BARS]:
            p = as_number(c.get("probability")) if isinstance(c, dict) else None
            if p is not None:
                rows.append((c.get("name", ""), p, c.get("index", "?")))
        with_mass = result.get("num_classes_with_mass")
        held = f"{with_mass} classes hold mass (q > {MASS_THRESHOLD:g})" if isinstance(with_mass, int) else ""
        held = held or f"the result's top {len(rows)} classes (no marginal given)"
    else:
        rows = []
    if not rows:
        return "no marginal class distribution and no top classes in the report data"
    diversity = as_number(result.get("diversity"))
    if diversity is not None:
        held += f"; effective number of classes exp(H) = {diversity:.1f}"

    from matplotlib.ticker import PercentFormatter

    fig = _new_figure(MARGINAL_HEIGHT)
    ax = fig.add_subplot()
    ys = np.arange(len(rows))
    probs = [p for _, p, _ in rows]
    bars = ax.barh(ys, probs, height=0.7, color=BLUE)
    legend = [(_handle("band", BLUE), "mean probability q(y) over all images")]
    if q is not None:
        ax.axvline(1 / len(q), color=GREY, lw=1.2, ls="--")
        legend.append((_handle("dash", GREY), f"uniform 1/{len(q)}"))
    ax.bar_label(bars, labels=[f"{p:.2%}" for p in probs], padding=3, fontsize=8, color=MUTED)
    ax.set_yticks(ys, [f"{_short_name(n)[:36]} ({i})" for n, _, i in rows], fontsize=8.5)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(0, max(probs) * 1.16 or 1.0)
    ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    ax.grid(axis="y", visible=False)
    ax.tick_params(axis="y", length=0)
    ax.set_xlabel("mean probability q(y)")
    _header(fig, f"Marginal class distribution: top {len(rows)} classes", held, legend)
    return _drawn(fig, f"The {len(rows)} classes with the largest mean probability over all images; {held}.")


def _splits(data: ReportData) -> Drawing | str:
    result = data.result
    scores = as_numbers(result.get("split_scores"))
    if not scores:
        return "the result has no per-split scores"
    mean, std = as_number(result.get("inception_score_mean")), as_number(result.get("inception_score_std"))
    ci = as_numbers(result.get("ci95"))
    s = len(scores)

    from matplotlib.ticker import MaxNLocator

    fig = _new_figure(HEIGHT)
    ax = fig.add_subplot()
    legend = [(_handle("dot", BLUE), "IS of each split")]
    extent = list(scores)
    if mean is not None:
        ax.axhline(mean, color=ORANGE, lw=2)
        legend.append((_handle("line", ORANGE), f"mean {mean:.4f}"))
        extent.append(mean)
        if std is not None:
            ax.axhspan(mean - std, mean + std, color=BAND, lw=0)
            legend.append((_handle("band", BAND), f"± std {std:.4f}"))
            extent += [mean - std, mean + std]
    if len(ci) == 2:
        for v in ci:
            ax.axhline(v, color=MUTED, lw=1, ls="--")
        legend.append((_handle("dash", MUTED), f"95% interval [{ci[0]:.3f}, {ci[1]:.3f}]"))
        extent += ci
    ax.plot(range(1, s + 1), scores, ls="none", marker="o", ms=7 if s <= 50 else 4, color=BLUE, mec="white")
    ax.set_xlim(0.5, s + 0.5)
    ax.set_ylim(*_limits(extent, 0.12))
    ax.xaxis.set_major_locator(MaxNLocator(nbins=min(s, 10), integer=True, min_n_ticks=1))
    ax.set_xticks([t for t in ax.get_xticks() if 1 <= t <= s])
    ax.set_xlabel("split")
    ax.set_ylabel("Inception Score")
    n = result.get("num_images")
    per = f", about {n / s:,.0f} images each" if isinstance(n, int) and n > 0 else ""
    note = f"{s} split{'' if s == 1 else 's'}{per}, protocol {_safe(result.get('protocol') or 'n/a')}"
    _header(fig, "Inception Score of each split", note, legend)
    caption = f"The score of each of the {s} splits, their mean and ± one standard deviation (ddof 0)."
    return _drawn(fig, caption)


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _against_one_over_n(data: ReportData, metric: str) -> Drawing | str:
    """IS_N (or FID_N) against 1/N, the fitted line and its value at 1/N = 0 (Chong & Forsyth 2020)."""
    key = metric.lower()
    result = data.result
    fit = result.get(f"{key}_infinity_fit")
    fit = fit if isinstance(fit, dict) else {}
    ns, values = fit.get("n"), fit.get(f"{key}_n")
    pairs = []
    if isinstance(ns, list) and isinstance(values, list):
        for n, v in zip(ns, values, strict=False):
            n, v = as_number(n), as_number(v)
            if n is not None and n >= 1 and v is not None:
                pairs.append((int(n), v))
    at_inf = as_number(fit.get(f"{key}_infinity", result.get(f"{key}_infinity")))
    slope = as_number(fit.get("slope"))
    if len(pairs) < 2 or at_inf is None or slope is None:
        return f"{metric}∞ was not computed for this run (no fit of {metric}_N against 1/N in the result)"
    pairs.sort()
    xs, ys = [1 / n for n, _ in pairs], [v for _, v in pairs]
    lo, hi = min(xs), max(xs)
    exponent = math.floor(math.log10(hi)) if hi < 0.01 else 0
    scale = 10.0**-exponent

    from matplotlib.ticker import FuncFormatter, MaxNLocator

    fig = _new_figure(HEIGHT)
    ax = fig.add_subplot()
    ax.plot([0, lo], [at_inf, at_inf + slope * lo], color=ORANGE, lw=2, ls="--")
    ax.plot([lo, hi], [at_inf + slope * lo, at_inf + slope * hi], color=ORANGE, lw=2)
    ax.plot(xs, ys, ls="none", marker="o", ms=7, color=BLUE, mec="white", zorder=3)
    ax.plot([0], [at_inf], ls="none", marker="D", ms=8, color=RED, mec="white", zorder=4)
    ax.set_ylim(*_limits(ys + [at_inf, at_inf + slope * hi], 0.14))
    ax.set_xlim(-0.05 * hi, 1.06 * hi)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v * scale:g}"))
    ax.set_xlabel(f"1/N  (× 10{str(exponent).translate(_SUPERSCRIPT)})" if exponent else "1/N")
    ax.set_ylabel(f"{metric}_N")
    # The value at 1/N = 0 is in the legend, not beside the diamond: no place there is free of points.
    bottom, top = ax.get_ylim()
    for n, v in (pairs[0], pairs[-1]):  # the largest and the smallest N
        above = v >= at_inf + slope / n  # the side away from the line, unless the frame is in the way
        margin = 0.1 * (top - bottom)
        above = v + margin < top if above else v - margin < bottom
        ax.annotate(
            f"N={n:,}",
            (1 / n, v),
            xytext=(0, 8 if above else -8),
            textcoords="offset points",
            ha="center",
            va="bottom" if above else "top",
            color=MUTED,
            fontsize=8.5,
            zorder=2.5,  # under the points
        )
    r2 = as_number(fit.get("r2"))
    note = (
        f"{metric}_N = {metric}∞ + slope / N over N = {pairs[0][0]:,}..{pairs[-1][0]:,}: slope "
        f"{f'{slope:,.0f}' if abs(slope) >= 1000 else f'{slope:.4g}'}, "
        f"R² {'n/a' if r2 is None else f'{r2:.4f}'} (Chong & Forsyth 2020)"
    )
    what = "one split of N images" if metric == "IS" else "N images to the reference"
    what += " (nested random subsets, seeded)"
    legend = [
        (_handle("dot", BLUE), f"{metric}_N: {what}"),
        (_handle("line", ORANGE), "least-squares fit"),
        (_handle("dash", ORANGE), "extrapolation"),
        (_handle("diamond", RED), f"{metric}∞ = {at_inf:.4f}"),
    ]
    _header(
        fig,
        f"{'Inception Score' if metric == 'IS' else 'FID'} against 1/N, extrapolated to infinitely many images",
        note,
        legend,
    )
    trend = "makes IS grow with N" if metric == "IS" else "makes FID fall as N grows"
    caption = (
        f"{metric}_N, the {metric} of {what}, against 1/N; the fitted line meets 1/N = 0 at {metric}∞ = {at_inf:.4f}, "
        f"an estimate free of the bias that {trend}."
    )
    return _drawn(fig, caption)


def _sharpness_diversity(data: ReportData) -> Drawing | str:
    result = data.result
    split_s, split_d = result.get("split_sharpness"), result.get("split_diversity")
    pairs = []
    if isinstance(split_s, list) and isinstance(split_d, list):
        for s, d in zip(split_s, split_d, strict=False):
            s, d = as_number(s), as_number(d)
            if s is not None and d is not None and s > 0 and d > 0:
                pairs.append((s, d))
    sharp, div = as_number(result.get("sharpness")), as_number(result.get("diversity"))
    overall = sharp is not None and div is not None and sharp > 0 and div > 0
    if not pairs and not overall:
        return "the result has no sharpness and diversity (per split or of all images)"
    xs = [s for s, _ in pairs] + ([sharp] if overall else [])
    ys = [d for _, d in pairs] + ([div] if overall else [])
    (x0, x1), (y0, y1) = _limits(xs, 0.15), _limits(ys, 0.15)
    x0, y0 = max(x0, 1e-9), max(y0, 1e-9)

    fig = _new_figure(HEIGHT)
    ax = fig.add_subplot()
    grid_s, grid_d = np.meshgrid(np.linspace(x0, x1, 200), np.linspace(y0, y1, 200))
    product = grid_s * grid_d
    # The curves go where the data are: through the lowest and the highest split, the mean over the
    # splits and all images as one split (round levels spread over the frame mostly missed them).
    named = _iso_levels(pairs, as_number(result.get("inception_score_mean")), sharp * div if overall else None)
    levels = sorted(v for v in named if x0 * y0 < v < x1 * y1)
    if levels:
        curves = ax.contour(grid_s, grid_d, product, levels=levels, colors=GREY, linewidths=1.2)
        ax.clabel(curves, fmt={v: f"IS {v:.2f} {named[v]}" for v in levels}, fontsize=8, colors=MUTED)
    legend = []
    if pairs:
        ax.plot(
            *zip(*pairs, strict=True),
            ls="none",
            marker="o",
            ms=7 if len(pairs) <= 50 else 4,
            color=BLUE,
            mec="white",
            zorder=3,
        )
        legend.append((_handle("dot", BLUE), "split"))
    if overall:
        ax.plot([sharp], [div], ls="none", marker="D", ms=8, color=ORANGE, mec="white", zorder=4)
        legend.append((_handle("diamond", ORANGE), "all images as one split"))
    legend.append((_handle("line", GREY), "iso-IS: sharpness × diversity = const"))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("sharpness  exp(−E H(y|x))")
    ax.set_ylabel("diversity  exp(H(y))")
    note = "IS = sharpness × diversity: up and to the right is a higher score; each grey curve is one IS"
    _header(fig, "Sharpness against diversity", note, legend)
    caption = (
        "Each split's sharpness exp(−E H(y|x)) against its diversity exp(H(y)); the split's IS is their "
        "product. The grey curves join points of equal IS: through the lowest and the highest split, the mean "
        "over the splits and all images as one split."
    )
    return _drawn(fig, caption)


def _iso_levels(pairs: list[tuple[float, float]], mean: float | None, one_split: float | None) -> dict[float, str]:
    """IS level -> its label, for the curves of equal IS: the lowest and highest split, the mean
    over the splits, all images as one split; a level within 2% of the range of one already kept
    is left out (its curve would lie on the other's)."""
    scores = [s * d for s, d in pairs]
    wanted: list[tuple[float | None, str]] = []
    if len(scores) > 1:
        wanted += [(min(scores), "(lowest split)"), (max(scores), "(highest split)"), (mean, "(mean)")]
    elif scores:
        wanted.append((scores[0], "(the split)"))
    wanted.append((one_split, "(one split)"))
    values = [v for v, _ in wanted if v is not None and v > 0]
    if not values:
        return {}
    close = 0.02 * (max(values) - min(values)) or 0.02 * max(values)
    kept: dict[float, str] = {}
    for value, label in wanted:
        if value is not None and value > 0 and all(abs(value - k) > close for k in kept):
            kept[value] = label
    return kept


def _confidence(data: ReportData) -> Drawing | str:
    hist = data.confidence_histogram
    if hist is None:
        return "no histogram of top-1 confidence in the report data"
    from matplotlib.ticker import MaxNLocator

    edges, counts = hist.edges, hist.counts
    fig = _new_figure(HEIGHT)
    ax = fig.add_subplot()
    ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color=BLUE, edgecolor="white", linewidth=0.8)
    legend = [(_handle("band", BLUE), "images per bin")]
    mean = as_number(data.result.get("mean_top1_confidence"))
    if mean is not None:
        ax.axvline(mean, color=ORANGE, lw=2, ls="--")
        legend.append((_handle("dash", ORANGE), f"mean {mean:.3f}"))
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylim(0, max(float(counts.max()) * 1.1, 1.0))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(axis="x", visible=False)
    ax.set_xlabel("top-1 probability  max_y p(y|x)")
    ax.set_ylabel("images")
    note = f"{int(counts.sum()):,} images in {len(counts)} bins"
    _header(fig, "Top-1 confidence of each image", note, legend)
    caption = "How sure the network is of each image: the histogram of its largest class probability."
    return _drawn(fig, caption)


def _thumbnails(data: ReportData) -> Drawing | str:
    rows: list[tuple[str, Sequence[ReportImage]]] = [
        ("Most confident", data.most_confident),
        ("Least confident", data.least_confident),
    ]
    if not any(items for _, items in rows):
        return "no images of the most and least confident in the report data"
    from matplotlib.patches import Rectangle

    fig = _new_figure(HEIGHT)
    fig.set_layout_engine("none")
    _text(fig, 16, 11, "Most and least confident images", fontsize=13)
    cell = (WIDTH - 32) / THUMBS_PER_ROW
    for r, (title, items) in enumerate(rows):
        y0 = 44 + r * 186
        shown = items[:THUMBS_PER_ROW]
        _text(
            fig, 16, y0, f"{title} ({len(shown)} of {len(items)})" if len(items) > len(shown) else title, fontsize=10.5
        )
        if not shown:
            _text(fig, 16, y0 + 60, "none given", color=MUTED)
        for j, item in enumerate(shown):
            cx, top = 16 + (j + 0.5) * cell, y0 + 24
            thumb = item.thumbnail
            h, w = (THUMB, THUMB) if thumb is None else thumb.shape[:2]
            k = min(THUMB / h, THUMB / w)
            h, w = h * k, w * k
            left, bottom = (cx - w / 2) / WIDTH, 1 - (top + (THUMB + h) / 2) / HEIGHT
            ax = fig.add_axes((left, bottom, w / WIDTH, h / HEIGHT))
            ax.set_axis_off()
            if thumb is not None:
                ax.imshow(_fit_image(thumb, THUMB * SCALE), aspect="auto", interpolation="nearest")
            else:
                ax.text(0.5, 0.5, "no image", ha="center", va="center", color=MUTED, transform=ax.transAxes)
            ax.add_artist(Rectangle((0, 0), 1, 1, transform=ax.transAxes, fill=False, edgecolor=GRID, lw=1))
            name = _text(fig, cx, top + THUMB + 6, _short_name(item.class_name), ha="center", fontsize=9)
            _fit(name, cell - 8)
            _text(fig, cx, top + THUMB + 21, f"p = {item.confidence:.3f}", ha="center", fontsize=9)
            label = _safe(item.label.replace("\\", "/").rsplit("/", 1)[-1] or f"image {item.index}")
            _fit(_text(fig, cx, top + THUMB + 36, label, ha="center", fontsize=8, color=MUTED), cell - 8, True)
    caption = (
        "The images the network is surest and least sure of, with their top-1 class and its probability "
        "(the files are listed below)."
    )
    return _drawn(fig, caption)


def _fit_image(image: np.ndarray, size: int) -> np.ndarray:
    """``image`` shrunk (Lanczos) to at most ``size`` pixels a side; smaller ones are drawn as they are.

    The sheet then shows each pixel of a small thumbnail as a block of device pixels (nearest):
    sharp, and half the bytes of a smoothed PNG.
    """
    if max(image.shape[:2]) <= size:
        return image
    from PIL import Image

    picture = Image.fromarray(image)
    picture.thumbnail((size, size), Image.LANCZOS)
    return np.asarray(picture)


_FIGURES: dict[str, tuple[str, Callable[[ReportData], Drawing | str]]] = {
    "marginal": ("Marginal class distribution", _marginal),
    "splits": ("Inception Score of each split", _splits),
    "is_infinity": ("IS against 1/N", lambda data: _against_one_over_n(data, "IS")),
    "fid_infinity": ("FID against 1/N", lambda data: _against_one_over_n(data, "FID")),
    "sharpness_diversity": ("Sharpness against diversity", _sharpness_diversity),
    "confidence": ("Top-1 confidence", _confidence),
    "thumbnails": ("Most and least confident images", _thumbnails),
}
TITLES = {key: title for key, (title, _) in _FIGURES.items()}  # the figures, in the page's order


def draw(keys: Iterable[str], data: ReportData) -> dict[str, Drawing]:
    """Draw the figures ``keys`` (of :data:`TITLES`) of ``data``; each a figure or a note saying why not.

    Raises:
        ValueError: an unknown key (the message lists the known ones).
        ImportError: matplotlib is not installed (see ``html.check_report_dependencies``).
    """
    keys = list(keys)
    unknown = [k for k in keys if k not in _FIGURES]
    if unknown:
        raise ValueError(f"figures: unknown figure(s) {unknown}; expected some of {list(_FIGURES)}")
    import warnings

    import matplotlib.style

    out = {}
    with matplotlib.style.context(["default", _STYLE]), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from")  # shown as '?' anyway
        for key in keys:
            title, figure = _FIGURES[key]
            drawn = figure(data)
            out[key] = drawn if isinstance(drawn, Drawing) else _note(title, drawn)
    return out
