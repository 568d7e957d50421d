"""Every output path is checked before any work: a run never fails after hours because of where it writes.

``--report DIR``, ``--save-stats PATH``, ``--state PATH``, ``--cache DIR`` and ``stats -o FILE``
are refused (OptionsError, exit 2, naming the option and the path) when:

* the path is one of the inputs (an image, a folder, an ``.npz``, an archive, a list file, the
  weights, the reference, a model file): ``--save-stats samples.npz`` would replace the user's
  images with statistics;
* a file must be written where a folder is (or a folder where a file is), or under something
  that is not a folder;
* the folder it goes into cannot be created or written;
* a file is already there that this package did not write (not a statistics file of ours): it
  is the user's, and it is not overwritten. A previous statistics or state file of ours is
  replaced (``--save-stats``) or resumed from (``--state``).

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> check_output_file(folder / "stats.pt", "save_stats", inputs=[], ours=lambda p: False)
    >>> check_output_file(folder, "save_stats", inputs=[], ours=lambda p: False)
    Traceback (most recent call last):
    ...
    inception_score.errors.OptionsError: save_stats: ... is a folder; expected a file path
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import OptionsError

__all__ = ["check_output_file", "check_output_dir", "check_report_dir", "same_path", "REPORT_PAGE", "REPORT_MARK"]

REPORT_PAGE = "report.html"  # the page --report writes in its folder, beside report-*.png
REPORT_MARK = '<meta name="generator" content="inception-score">'  # in its <head>: the page is ours
REPORT_FIGURES = "report-*.png"  # the names of the figures written beside the page


def _real(path: str | os.PathLike[str]) -> str:
    return os.path.normcase(os.path.realpath(os.fspath(path)))


def same_path(path: str | os.PathLike[str], others: Iterable[str | os.PathLike[str]]) -> bool:
    """Whether ``path`` is one of ``others`` (after resolving links and, on Windows, case)."""
    real = _real(path)
    return any(real == _real(other) for other in others)


def _writable_parent(folder: Path, option: str, shown: str, create: bool) -> None:
    """``folder`` (or, when it is to be created, its first existing ancestor) must be a writable
    folder. Nothing is created here: a run that fails later leaves no empty folders behind. A file's
    folder must exist already (as for ``cp`` or ``torch.save``: a typo in it is an error, not a new
    tree of folders); a folder output (``--report``, ``--cache``) is created with its parents when
    written."""
    probe = folder
    if not create and not folder.exists():
        raise OptionsError(f"{option}: {shown}: the folder {folder} does not exist; create it first")
    while not probe.exists():  # the first existing ancestor must be a writable folder
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise OptionsError(f"{option}: {shown}: {probe} is not a folder")
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as exc:
        raise OptionsError(f"{option}: {shown}: cannot write in {probe} ({exc.strerror or exc})") from None


def check_output_file(
    path: str | os.PathLike[str],
    option: str,
    inputs: Iterable[str | os.PathLike[str]],
    ours: Callable[[Path], bool],
) -> None:
    """Refuse a file output that is an input, a folder, unwritable, or someone else's existing file.

    ``ours(path)``: whether an existing file there was written by this package (and may be replaced).
    """
    target = Path(os.fspath(path))
    shown = os.fsdecode(path)
    if shown.endswith(("/", os.sep)):  # Path() would drop the slash and write a file named like the folder
        raise OptionsError(f"{option}: {shown} ends with a separator; expected a file path, not a folder")
    if same_path(target, inputs):
        raise OptionsError(f"{option}: {shown} is one of the inputs; it would be overwritten. Choose another path")
    if target.is_dir():
        raise OptionsError(f"{option}: {shown} is a folder; expected a file path")
    if target.exists() or target.is_symlink():
        if not target.is_file():
            raise OptionsError(f"{option}: {shown} exists and is not a regular file")
        if not ours(target):
            raise OptionsError(
                f"{option}: {shown} exists and was not written by inception-score; refusing to overwrite it"
            )
    _writable_parent(target.parent if str(target.parent) else Path("."), option, shown, create=False)


def check_output_dir(path: str | os.PathLike[str], option: str, inputs: Iterable[str | os.PathLike[str]]) -> None:
    """Refuse a folder output that is an input folder, an existing file, or cannot be created/written."""
    target = Path(os.fspath(path))
    shown = os.fsdecode(path)
    if same_path(target, inputs):
        raise OptionsError(f"{option}: {shown} is one of the inputs; write to another folder")
    if target.exists() and not target.is_dir():
        raise OptionsError(f"{option}: {shown} exists and is not a folder; expected a folder path")
    _writable_parent(target, option, shown, create=True)


def check_report_dir(path: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str]]) -> None:
    """:func:`check_output_dir`, and a ``report.html`` already there must be one this package wrote
    (it carries :data:`REPORT_MARK`), and without one no ``report-*.png`` may be there: someone else's
    files are never replaced."""
    check_output_dir(path, "report", inputs)
    page = Path(os.fspath(path)) / REPORT_PAGE
    if not (page.exists() or page.is_symlink()):  # no page of ours: the figures' names must be free too
        taken = sorted(Path(os.fspath(path)).glob(REPORT_FIGURES)) if Path(os.fspath(path)).is_dir() else []
        if taken:
            raise OptionsError(
                f"report: {os.fsdecode(taken[0])} exists, and no report.html of inception-score beside it; refusing "
                "to overwrite it (choose another folder)"
            )
    else:
        head = ""
        if page.is_file():  # never open a FIFO or device: it could block
            try:
                with open(page, "rb") as f:
                    head = f.read(4096).decode("utf-8", "replace")
            except OSError:
                pass
        if REPORT_MARK not in head:
            raise OptionsError(
                f"report: {os.fsdecode(page)} exists and was not written by inception-score; refusing to overwrite "
                "it (choose another folder)"
            )
