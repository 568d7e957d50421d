"""``inception-score SOURCE... [options]``: flags -> Options -> pipeline -> one result.

The flags are generated from the fields of :class:`inception_score.options.Options`, so the CLI
and the API cannot drift apart. The result goes to stdout (a short summary, or one JSON object
with ``--json``); progress and warnings go to stderr. Every error the library raises on purpose
becomes one line ``inception-score: error: ...`` and a non-zero exit code; ``--debug`` shows the
traceback instead. torch is imported only after the arguments are parsed, so ``--help`` is quick.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from ._version import __version__
from .errors import InceptionScoreError
from .options import Options

PROG = "inception-score"

EPILOG = """\
examples:
  inception-score samples/                      a folder of PNG/JPEG/... images
  inception-score samples.npz --protocol adm    an ADM batch (arr_0: N x H x W x 3 uint8)
  inception-score a/ b/ --json                  two folders as one set, JSON on stdout
  torchrun --nproc_per_node=8 -m inception_score samples/     8 GPUs, one result
  inception-score samples/ --shard 3/8 --save-stats s3.pt      one shard of a job array ...
  inception-score merge s*.pt                                   ... and the score of all shards
  inception-score samples/ --state run.pt       resumable: run the same command again after a crash

weights: --weights PATH, else $INCEPTION_SCORE_WEIGHTS, else the torch hub cache
($TORCH_HOME/hub/checkpoints, shared with torch-fidelity and pytorch-fid), else download.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Inception Score of generated images, exactly as the reference implementations compute it.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "sources",
        nargs="*",
        metavar="SOURCE",
        help="folder, image, .npz/.npy, .tar/.zip, glob pattern or @list.txt (several are concatenated)",
    )
    for f in dataclasses.fields(Options):
        meta = dict(f.metadata)
        if meta.pop("cli", True) is False:
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            parser.add_argument(flag, action="store_true", help=meta["help"])
            continue
        first = str(f.type).split("|")[0].strip()  # "int | None" -> int; "str | tuple[...]" -> str
        kind = {"int": int, "float": float}.get(first, str)
        parser.add_argument(flag, type=kind, default=f.default, **meta)
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def _printable(text: object) -> str:
    """File names that are not valid UTF-8 arrive as surrogate escapes: show their bytes as \\xNN
    rather than fail to print them."""
    return str(text).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _one_line_warning(
    message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    print(f"{PROG}: warning: {_printable(message)}", file=sys.stderr)


def build_merge_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} merge",
        description="Combine the --save-stats files of shards into the result of one run over everything. "
        "Refuses shards from different commands, and shards that overlap or leave gaps.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="statistics files written with --save-stats")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    merging = bool(argv) and argv[0] == "merge"
    args = build_merge_parser().parse_args(argv[1:]) if merging else build_parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warning
        try:
            if merging:
                from .pipeline import merge_stats

                result: Any = merge_stats(list(args.files))
            else:
                if not args.sources and not args.generator:
                    build_parser().error("give at least one SOURCE (or --generator SPEC --num-samples N)")
                values = {f.name: getattr(args, f.name) for f in dataclasses.fields(Options) if hasattr(args, f.name)}
                options = Options(**values, progress=not args.quiet)
                from .pipeline import score_sources

                result = score_sources(list(args.sources), options)
        except InceptionScoreError as exc:
            if args.debug:
                raise
            print(f"{PROG}: error: {_printable(exc)}", file=sys.stderr)
            return exc.exit_code
        except KeyboardInterrupt:
            print(f"{PROG}: interrupted", file=sys.stderr)
            return 130
        except Exception as exc:  # a bug or an unforeseen failure: still one line unless --debug
            if args.debug:
                raise
            message = f"{type(exc).__name__}: {_printable(exc)} (run with --debug for the traceback)"
            print(f"{PROG}: internal error: {message}", file=sys.stderr)
            return 1
    if _is_main_process():  # under torchrun, rank 0 speaks for all
        print(result.to_json() if args.json else _printable(result.summary()))
    return 0


def _is_main_process() -> bool:
    if "torch" not in sys.modules:
        return True
    import torch.distributed as dist

    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
