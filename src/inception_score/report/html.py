"""The HTML report: one self-contained ``report.html`` and the PNG figures behind it.

:func:`write_report` renders a :class:`~inception_score.report.data.ReportData` for people: the
headline number and its uncertainty (and FID, KID, sFID, precision/recall, density/coverage when
the result has them), what IS is made of (sharpness x diversity), the warnings, the classes the
images fall into, provenance, and the figures of :mod:`~inception_score.report.figures`. The
figures are embedded as base64 ``data:`` URIs, so the page is one file that can be mailed or put in
a supplement, and are also written beside it as PNGs for slides.

Deviations from the obvious implementation, each for a reason:

* no JavaScript, web fonts or any network reference: the page must open the same anywhere,
  offline, years later;
* text from outside (file names, class names, messages) is HTML-escaped after its control
  characters and undecodable bytes are made visible escapes (``\\x1b``, ``\\xff``), so a file
  named ``<script>.png`` is shown, not run, and an odd byte is shown, not dropped;
* every file goes through :func:`inception_score.atomic.atomic_write`, the page last: a reader
  never sees half a file, the page never names a figure not yet in place, and nothing else in the
  directory is touched;
* a figure without data is still written, as a small PNG that says why, so that a re-run never
  leaves an earlier run's figure beside a newer page; a figure of a metric the run did not compute
  (FID against 1/N) is not written, and one left by an earlier run is removed.

Example:
    >>> import tempfile
    >>> from inception_score.report.data import ReportData
    >>> result = {"inception_score_mean": 9.5, "inception_score_std": 0.1, "split_scores": [9.4, 9.6],
    ...           "num_images": 100, "splits": 2, "protocol": "original", "weights_sha256": None}
    >>> path = write_report(tempfile.mkdtemp(), ReportData(result))
    >>> path.name, "9.5000 ± 0.1000" in path.read_text(encoding="utf-8")
    ('report.html', True)
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..atomic import atomic_write
from ..errors import OptionsError, printable
from ..run.outputs import REPORT_MARK, REPORT_PAGE, check_report_dir
from .data import ReportData, as_number, as_numbers
from .figures import THUMBS_PER_ROW, TITLES, Drawing, draw

__all__ = ["write_report", "check_report_dependencies", "REPORT_NAME", "FIGURES", "OPTIONAL_FIGURES"]

REPORT_NAME = REPORT_PAGE
FIGURES = {  # figure -> file written beside the report, on every run
    "marginal": "report-marginal.png",
    "splits": "report-splits.png",
    "is_infinity": "report-is-infinity.png",
    "sharpness_diversity": "report-sharpness-diversity.png",
    "confidence": "report-confidence.png",
    "thumbnails": "report-thumbnails.png",
}
OPTIONAL_FIGURES = {  # figure -> file written only when the result has its metric
    "fid_infinity": "report-fid-infinity.png",
}
MATPLOTLIB = (3, 7)  # the oldest matplotlib the figures are drawn with

# Metrics other than IS, shown in a table at the top when the result has them as numbers:
# (field, its std field or None, format, name, what it measures and which way is better).
OTHER_METRICS = (
    ("fid", None, ".4f", "FID", "Fréchet distance of the pool3 features to the reference's; lower is better"),
    ("fid_infinity", None, ".4f", "FID at infinite N", "FID_N extrapolated to 1/N = 0 (Chong &amp; Forsyth 2020)"),
    ("kid_mean", "kid_std", ".5f", "KID", "kernel inception distance, mean ± std over subsets; lower is better"),
    ("sfid", None, ".4f", "sFID", "FID of spatial features (Nash et al. 2021); lower is better"),
    ("improved_precision", None, ".4f", "Precision", "share of images in the reference's manifold; higher is better"),
    ("improved_recall", None, ".4f", "Recall", "share of the reference inside the images' manifold; higher is better"),
    ("density", None, ".4f", "Density", "how densely the images fill the reference's manifold (Naeem et al. 2020)"),
    ("coverage", None, ".4f", "Coverage", "share of the reference's neighbourhoods holding an image; higher is better"),
    (
        "fd_dinov2",
        None,
        ".4f",
        "FD_DINOv2",
        "Fréchet distance of DINOv2 ViT-L/14 features (Stein et al. 2023, as EDM2); lower is better",
    ),  # fmt: skip
    ("fd_infinity_dinov2", None, ".4f", "FD_DINOv2 at infinite N", "FD_N extrapolated to 1/N = 0"),
    ("kd_dinov2_mean", "kd_dinov2_std", ".5f", "KD_DINOv2", "kernel distance of the DINOv2 features; lower is better"),
    ("improved_precision_dinov2", None, ".4f", "Precision (DINOv2)", "precision in DINOv2 space; higher is better"),
    ("improved_recall_dinov2", None, ".4f", "Recall (DINOv2)", "recall in DINOv2 space; higher is better"),
    ("density_dinov2", None, ".4f", "Density (DINOv2)", "density in DINOv2 space (Naeem et al. 2020)"),
    ("coverage_dinov2", None, ".4f", "Coverage (DINOv2)", "coverage in DINOv2 space; higher is better"),
    (
        "cmmd",
        None,
        ".4f",
        "CMMD",
        "MMD of CLIP ViT-L/14@336 embeddings, Gaussian kernel, x 1000 (Jayasumana et al. "
        "2024, as Google's reference); lower is better",
    ),  # fmt: skip
    ("fd_clip", None, ".4f", "FD_CLIP", "Fréchet distance of the CLIP embeddings; lower is better"),
    ("fd_infinity_clip", None, ".4f", "FD_CLIP at infinite N", "FD_N extrapolated to 1/N = 0"),
    ("kd_clip_mean", "kd_clip_std", ".5f", "KD_CLIP", "kernel distance of the CLIP embeddings; lower is better"),
    ("improved_precision_clip", None, ".4f", "Precision (CLIP)", "precision in CLIP space; higher is better"),
    ("improved_recall_clip", None, ".4f", "Recall (CLIP)", "recall in CLIP space; higher is better"),
    ("density_clip", None, ".4f", "Density (CLIP)", "density in CLIP space (Naeem et al. 2020)"),
    ("coverage_clip", None, ".4f", "Coverage (CLIP)", "coverage in CLIP space; higher is better"),
)


def check_report_dependencies() -> None:
    """Raise if the report cannot be drawn here: matplotlib (the 'report' extra) missing or too old.

    :func:`inception_score.compute` calls it before any work, so a run with ``--report`` fails in a
    second rather than after scoring.

    Raises:
        OptionsError: one line naming the extra to install.

    Example:
        >>> check_report_dependencies()  # matplotlib is installed with the 'test' extra
    """
    try:
        import matplotlib
    except ImportError:
        raise OptionsError(
            "report: needs matplotlib; install it: pip install 'matplotlib>=3.7' (or the 'report' extra, "
            "pip install '.[report]' in a clone of inception-score)"
        ) from None
    version = getattr(matplotlib, "__version__", "0")
    try:
        found = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        found = MATPLOTLIB  # a development version: let it try
    if found < MATPLOTLIB:
        raise OptionsError(
            f"report: needs matplotlib >= {'.'.join(map(str, MATPLOTLIB))}, found {version}; "
            "upgrade it: pip install -U 'matplotlib>=3.7'"
        )


def write_report(directory: str | os.PathLike[str], data: ReportData) -> Path:
    """Write ``report.html`` and its PNG figures into ``directory``; return the page's path.

    ``data`` is what :func:`~inception_score.report.data.report_data` gathers from a run (or a
    :class:`~inception_score.report.data.ReportData` made by hand). The files written are
    :data:`REPORT_NAME`, the PNGs of :data:`FIGURES`, and those of :data:`OPTIONAL_FIGURES` whose
    metric the result has. ``directory`` is created if needed; the files of these names are replaced
    atomically, and nothing else in it is touched.

    Raises:
        OptionsError: matplotlib is missing (nothing is written), or ``directory`` cannot be
            written (the message names the path and the reason).
        ValueError: ``data`` is not a ReportData.
    """
    check_report_dependencies()
    if not isinstance(data, ReportData):
        raise ValueError(
            f"write_report: data is {type(data).__name__}; expected a ReportData (report_data(result, measurement) "
            "or ReportData(result.to_dict()))"
        )
    wanted = [key for key in TITLES if key in FIGURES or _has_metric(data.result, key)]
    drawings = draw(wanted, data)  # everything is drawn before anything is written
    files = {**FIGURES, **OPTIONAL_FIGURES}
    out = Path(directory)
    target = out
    check_report_dir(out, inputs=[])  # also when called directly: someone else's report.html stays
    try:
        out.mkdir(parents=True, exist_ok=True)
        for key, drawing in drawings.items():
            target = out / files[key]
            atomic_write(target, drawing.png)
        for key, name in OPTIONAL_FIGURES.items():
            if key not in drawings:
                target = out / name
                target.unlink(missing_ok=True)  # an earlier run's, beside a page that no longer shows it
        target = out / REPORT_NAME
        atomic_write(target, _page(data, drawings).encode("utf-8"))  # last: the figures it names are in place
    except OSError as e:
        raise OptionsError(
            f"report: cannot write {printable(target)}: {printable(e.strerror or e)}; "
            "expected a folder this process can create and write"
        ) from None
    return target


def _has_metric(result: Mapping[str, Any], key: str) -> bool:
    """Whether the optional figure ``key`` has a metric in the result to show."""
    return key == "fid_infinity" and (result.get("fid_infinity") is not None or bool(result.get("fid_infinity_fit")))


# -- text ------------------------------------------------------------------------------------------


def _esc(value: object) -> str:
    """Text from outside, safe in HTML: control characters and undecodable bytes escaped, then <>&"'."""
    return html.escape(printable(value), quote=True)


def _num(value: Any, spec: str = ".4f") -> str:
    """``value`` formatted, or "n/a" when it is missing or not a finite number; a value that rounds
    to 0 without a minus sign (``-0.0000`` from a rounding residue or an intercept a hair below 0
    reads as a bug)."""
    v = as_number(value)
    if v is None:
        return "n/a"
    text = format(v, spec)
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else "n/a"


def _rows(pairs: Sequence[tuple[str, str]]) -> str:
    return "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in pairs)


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else []


# -- the page ----------------------------------------------------------------------------------------

_CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: #222; max-width: 940px; margin: 24px auto; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; }
.headline { font-size: 40px; font-weight: 650; margin: 4px 0; font-variant-numeric: tabular-nums; }
.sub { color: #555; margin: 0 0 12px; }
table { border-collapse: collapse; margin: 6px 0; } th, td { padding: 3px 10px 3px 0; text-align: left;
        border-bottom: 1px solid #eee; vertical-align: top; } th { color: #555; font-weight: 600; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.metrics td.num { font-size: 18px; font-weight: 600; }
code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 13px; overflow-wrap: anywhere; }
.warnings { background: #fff5e6; border: 1px solid #e8a33d; border-left: 6px solid #e8a33d; padding: 6px 16px;
            margin: 16px 0; } .warnings h2 { border: 0; margin: 6px 0; color: #8a4b00; }
.ok { background: #eef7ee; border-left: 6px solid #5a9e5a; padding: 6px 16px; }
.note { color: #666; font-style: italic; }
figure { margin: 20px 0; } figure img { max-width: 100%; height: auto; border: 1px solid #e4e4e4; }
figcaption { color: #444; font-size: 14px; margin-top: 4px; } figcaption code { white-space: nowrap; }
footer { color: #777; font-size: 13px; margin: 32px 0 12px; }
"""


def _page(data: ReportData, drawings: Mapping[str, Drawing]) -> str:
    g = data.result.get
    n, splits = g("num_images"), g("splits")
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        REPORT_MARK,  # a later run may replace this page, and no other
        f"<title>Inception Score {_num(g('inception_score_mean'))}</title><style>{_CSS}</style></head><body>",
        "<h1>Inception Score</h1>",
        f'<p class="headline">{_score(data.result)}</p>',
        f'<p class="sub">{_count(n)} images · {_count(splits)} split{"" if splits == 1 else "s"} · '
        f"protocol {_esc(g('protocol') or 'n/a')} · mean ± std over the splits (ddof 0)</p>",
    ]
    out += _other_metrics(data.result)
    out += _numbers(data.result)
    out += _reference(data.result)
    out += _made_of(data.result)

    warnings = _list(g("warnings"))
    if warnings:
        items = "".join(f"<li>{_esc(w)}</li>" for w in warnings)
        out.append(f'<div class="warnings"><h2>Warnings ({len(warnings)})</h2><ul>{items}</ul></div>')
    else:
        out.append('<p class="ok">No warnings.</p>')

    out.append("<h2>Top classes</h2>")
    top = [c for c in _list(g("top_classes")) if isinstance(c, Mapping)]
    if top:
        body = "".join(
            f'<tr><td class="num">{k}</td><td class="num">{_esc(c.get("index", ""))}</td><td>{_esc(c.get("name", ""))}'
            f'</td><td class="num">{_num(c.get("probability"), ".2%")}</td>'
            f'<td class="num">{_esc(c.get("top1_count", ""))}</td></tr>'
            for k, c in enumerate(top, 1)
        )
        out.append(
            "<table><tr><th>rank</th><th>output</th><th>class</th><th>mean probability</th><th>top-1 images</th>"
            f"</tr>{body}</table>"
        )
    else:
        out.append('<p class="note">No class diagnostics in the result.</p>')

    out += _provenance(data.result)

    out.append("<h2>Figures</h2>")
    files = {**FIGURES, **OPTIONAL_FIGURES}
    for key, drawing in drawings.items():
        title = TITLES[key]
        if not drawing.drawn:
            out.append(f'<p class="note">{_esc(title)}: not drawn, {_esc(drawing.text)}.</p>')
            continue
        w, h = drawing.size
        png = base64.b64encode(drawing.png).decode("ascii")
        out.append(
            f'<figure id="{key}"><img src="data:image/png;base64,{png}" width="{w}" height="{h}" alt="{_esc(title)}">'
            f"<figcaption>{_esc(drawing.text)} <code>{_esc(files[key])}</code></figcaption></figure>"
        )
        if key == "thumbnails":
            out.append(_thumbnail_table(data, w))
    out.append(
        f"<footer>Written by inception-score {_esc(g('package_version') or '')}".rstrip()
        + ". This page is self-contained: the "
        "figures are embedded and also saved beside it as PNG files; it loads nothing from the network.</footer>"
    )
    out.append("</body></html>\n")
    return "\n".join(out)


def _other_metrics(result: Mapping[str, Any]) -> list[str]:
    """The table of FID, KID, ... when the result has any of them."""
    rows = []
    for key, std_key, spec, name, what in OTHER_METRICS:
        value = result.get(key)
        if value is None:
            continue
        shown = _num(value, spec)
        if std_key and as_number(result.get(std_key)) is not None:
            shown += f" ± {_num(result.get(std_key), spec)}"
        kind = key.split("_dinov2")[0].split("_clip")[0]  # improved_precision_dinov2 -> improved_precision
        k = result.get("pr_k" if kind in ("improved_precision", "improved_recall") else "prdc_k")
        if kind in ("improved_precision", "improved_recall", "density", "coverage") and isinstance(k, int):
            what += f" (k = {k})"
        if key == "cmmd" and result.get("cmmd_num_samples") is not None:
            dropped = ", last partial batches of 32 left out" if result.get("cmmd_drop_remainder") else ""
            what += f" ({result.get('cmmd_num_samples')} vs {result.get('cmmd_num_reference')} images{dropped})"
        if key == "fid_infinity":
            fit = result.get("fid_infinity_fit")
            what += f", R² of the fit {_num(fit.get('r2'))}" if isinstance(fit, Mapping) else ""
        rows.append(f'<tr><th>{name}</th><td class="num">{shown}</td><td>{what}</td></tr>')
    if not rows:
        return []
    is_row = (
        f'<tr><th>Inception Score</th><td class="num">{_score(result)}</td>'
        "<td>mean ± std over the splits; higher is better</td></tr>"
    )
    return [f'<table class="metrics">{is_row}{"".join(rows)}</table>']


def _reference(result: Mapping[str, Any]) -> list[str]:
    """The reference set FID and the other distances compare with, when the result names one."""
    ref = result.get("fid_reference")
    if ref is None:
        return []
    if not isinstance(ref, Mapping):
        return [f'<h2>Reference set</h2><p class="note">{_esc(ref)}</p>']
    sha = ref.get("sha256")
    pairs = [
        ("Path", f"<code>{_path(ref.get('path'))}</code>" if ref.get("path") else "n/a"),
        ("Kind", _esc(ref.get("kind") or "n/a")),
        ("Images", _count(ref.get("num_images"))),
        ("sha256", f"<code>{_esc(sha)}</code>" if sha else '<span class="note">unknown</span>'),
    ]
    return [f"<h2>Reference set</h2><table>{_rows(pairs)}</table>"]


def _numbers(result: Mapping[str, Any]) -> list[str]:
    """The interval, IS at infinite N, and all images as one split."""
    g = result.get
    numbers = []
    ci = as_numbers(g("ci95"))
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
    fit = g("is_infinity_fit")
    fit = fit if isinstance(fit, Mapping) else {}
    if as_number(g("is_infinity")) is not None:
        numbers.append(
            (
                "IS at infinite N",
                f"{g('is_infinity'):.4f}: IS_N of one split extrapolated to 1/N = 0 "
                f"(Chong &amp; Forsyth 2020), R² of the fit {_num(fit.get('r2'))}",
            )
        )
    else:
        numbers.append(("IS at infinite N", '<span class="note">not computed</span>'))
    if as_number(g("inception_score_one_split")) is not None:
        numbers.append(("All images as one split", _num(g("inception_score_one_split"))))
    return [f"<table>{_rows(numbers)}</table>"]


def _made_of(result: Mapping[str, Any]) -> list[str]:
    """IS = sharpness x diversity, and the facts about the classes."""
    g = result.get
    out = ["<h2>What the score is made of</h2>"]
    sharp, div = as_number(g("sharpness")), as_number(g("diversity"))
    if sharp is not None and div is not None:
        top1, never = as_number(g("num_classes_top1")), as_number(g("num_classes_never_top1"))
        count = int(top1 + never) if top1 is not None and never is not None else None
        classes = "the network's classes" if count is None else f"{count:,} classes"
        if count == 1000:  # the 2015 graph: 1,008 outputs, of which 0 and 1001..1007 are not classes
            classes += " (the graph's 8 other outputs are not classes)"
        out.append(
            f"<p>ln IS = H(y) − E<sub>x</sub> H(y|x), so for all images as one split IS = sharpness × diversity = "
            f"{sharp:.4f} × {div:.2f} = {sharp * div:.4f}.</p><ul>"
            f"<li><b>Sharpness</b> exp(−E H(y|x)) = {sharp:.4f}: the reciprocal of the effective number of "
            "classes each image is spread over; 1 when the network is certain of every image.</li>"
            f"<li><b>Diversity</b> exp(H(y)) = {div:.2f}: the effective number of classes the whole set "
            f"covers (at most {classes}); low when the images collapse onto few classes.</li></ul>"
        )
    else:
        out.append('<p class="note">Sharpness and diversity were not computed for this run.</p>')
    facts = []
    if as_number(g("mean_top1_confidence")) is not None:
        facts.append(("Mean top-1 probability", _num(g("mean_top1_confidence"), ".3f")))
    if g("num_classes_with_mass") is not None:
        facts.append(("Classes holding mass", f"{_esc(g('num_classes_with_mass'))} (mean probability > 1e-4)"))
    if g("num_classes_top1") is not None:
        facts.append(("Classes that are some image's top-1", _esc(g("num_classes_top1"))))
    if g("num_classes_never_top1") is not None:
        listed = _list(g("classes_never_top1"))
        never, top1 = as_number(g("num_classes_never_top1")), as_number(g("num_classes_top1"))
        of = f" of {int(never + top1):,} classes" if never is not None and top1 is not None else ""
        names = "; ".join(_esc(s) for s in listed)
        folded = f"<details><summary>the first {len(listed)}</summary>{names}</details>" if names else ""
        facts.append(("Classes never top-1", f"{_esc(g('num_classes_never_top1'))}{of}{folded}"))
    if facts:
        out.append(f"<table>{_rows(facts)}</table>")
    return out


def _provenance(result: Mapping[str, Any]) -> list[str]:
    g = result.get
    out = ["<h2>Provenance</h2>"]
    sha = g("weights_sha256")
    prov = [("Weights sha256", f"<code>{_esc(sha)}</code>" if sha else '<span class="note">unknown</span>')]
    for key, label in (("weights_path", "Weights file"), ("weights_source", "Weights source")):
        if g(key):
            prov.append((label, f"<code>{_path(g(key))}</code>"))
    prov += [
        ("inception-score", _esc(g("package_version") or "n/a")),
        ("torch", _esc(g("torch_version") or "n/a")),
        ("Device", _esc(g("device") or "n/a")),
        (
            "Precision",
            _esc(f"{g('precision')}" + (f" ({g('fast_dtype')})" if g("fast_dtype") else ""))
            if isinstance(g("precision"), str)
            else "n/a",
        ),
    ]
    check = g("precision_check")
    if isinstance(check, Mapping) and check:
        prov.append(("Precision check", ", ".join(f"{_esc(k)} {_num(v, '.6g')}" for k, v in check.items())))
    sources = [_esc(s) for s in _list(g("sources"))]
    if sources:
        listed = "<br>".join(f"<code>{_path(s)}</code>" for s in _list(g("sources"))[:50])
        more = f"<br>… and {len(sources) - 50} more" if len(sources) > 50 else ""
        prov.append((f"Sources ({len(sources)})", listed + more))
    elapsed, rate = as_number(g("elapsed_s")), as_number(g("images_per_second"))
    if elapsed:
        prov.append(("Time", f"{elapsed:.1f} s" + (f", {rate:.1f} images/s" if rate else "")))
    prov.append(("Skipped files", _esc(g("num_skipped") or 0)))
    out.append(f"<table>{_rows(prov)}</table>")
    skipped = [s for s in _list(g("skipped")) if isinstance(s, Mapping)]
    if skipped:
        items = "".join(
            f"<li><code>{_esc(s.get('path', ''))}</code>: {_esc(s.get('reason', ''))}</li>" for s in skipped[:200]
        )
        out.append(f"<details><summary>{len(skipped)} skipped files</summary><ul>{items}</ul></details>")
    return out


def _thumbnail_table(data: ReportData, width: int) -> str:
    """The files of the thumbnails: their common folder once, then each name relative to it (a table
    of full paths was wider than the figures and broke names mid-word), no wider than the figure."""
    shown = [
        (title, k, item)
        for title, items in (("most confident", data.most_confident), ("least confident", data.least_confident))
        for k, item in enumerate(items[:THUMBS_PER_ROW], 1)
    ]
    labels = [str(item.label) for _, _, item in shown]
    folder = _common_folder(labels)
    rows = []
    for title, k, item in shown:
        label = str(item.label)[len(folder) :] if folder else str(item.label)
        rows.append(
            f'<tr><td>{title}</td><td class="num">{k}</td><td class="num">{_esc(item.index)}</td>'
            f"<td><code>{_path(label)}</code></td><td>{_esc(item.class_name)}</td>"
            f'<td class="num">{_num(item.confidence, ".3f")}</td></tr>'
        )
    where = f'<p class="note">Files in <code>{_path(folder)}</code></p>' if folder else ""
    head = "<tr><th></th><th>#</th><th>image</th><th>file</th><th>top-1 class</th><th>probability</th></tr>"
    return f'{where}<table style="max-width: {width}px">{head}{"".join(rows)}</table>'


def _common_folder(labels: Sequence[str]) -> str:
    """The folder (ending in its separator) that every label is a path inside, or "" if none."""
    if len(labels) < 2 or not all("/" in s or "\\" in s for s in labels):
        return ""
    sep = "/" if all("/" in s for s in labels) else "\\"
    parts = [s.split(sep)[:-1] for s in labels]
    common = []
    for level in zip(*parts, strict=False):
        if any(p != level[0] for p in level):
            break
        common.append(level[0])
    return sep.join(common) + sep if common else ""


def _path(text: Any) -> str:
    """A path, escaped, that a narrow line breaks after a "/" rather than mid-name (not after a
    backslash: the escapes of control characters and odd bytes, ``\\x1b``, use it too)."""
    return _esc(text).replace("/", "/<wbr>")


def _score(result: Mapping[str, Any]) -> str:
    """The mean over splits, ± their std when there are several (one split has no spread)."""
    spread = f" ± {_num(result.get('inception_score_std'))}" if (result.get("splits") or 0) != 1 else ""
    return f"{_num(result.get('inception_score_mean'))}{spread}"
