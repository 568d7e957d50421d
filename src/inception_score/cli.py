"""``inception-score SOURCE... [options]``: flags -> Options -> compute -> one result.

The flags are generated from the fields of :class:`inception_score.options.Options`, so the CLI
and the API cannot drift apart; the command line's strings (``--image-range=-1,1``,
``--shard 0/4``) are parsed into the typed values the API takes. The result goes to stdout (a
short summary, or one JSON object with ``--json``); progress and warnings go to stderr. Every
error the library raises on purpose, and every malformed flag, becomes one line
``inception-score: error: ...`` and a non-zero exit code (2 options, 3 inputs, 4 weights, 5
device, 1 anything else); ``--debug`` shows the traceback instead. Anything printed that comes
from outside (file names, messages relayed from libraries) has its control characters escaped.
torch is imported only after the arguments are parsed, so ``--help`` is quick.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from ._version import __version__
from .errors import InceptionScoreError, OptionsError, printable
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


class _Parser(argparse.ArgumentParser):
    """argparse, but a malformed command line is one line and exit code 2 (no usage block)."""

    def error(self, message: str) -> NoReturn:
        print(f"{PROG}: error: {printable(message)} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def _output_flags(parser: argparse.ArgumentParser) -> None:
    """The flags of every subcommand that prints a result."""
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
        meta.pop("parse", None)  # applied after parsing, so that its errors are ours (one line)
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            parser.add_argument(flag, action="store_true", help=meta["help"])
            continue
        first = str(f.type).split("|")[0].strip()  # "int | None" -> int; "tuple[...] | None" -> str
        kind = {"int": int, "float": float}.get(first, str)
        parser.add_argument(flag, type=kind, default=None, **meta)
    _output_flags(parser)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def build_merge_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=f"{PROG} merge",
        description="Combine the --save-stats files of shards into the result of one run over everything. "
        "Refuses shards from different commands, and shards that overlap or leave gaps.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="statistics files written with --save-stats")
    _output_flags(parser)
    return parser


def options_from_args(args: argparse.Namespace) -> Options:
    """The parsed flags as :class:`Options`: strings parsed into typed values, defaults where unset."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Options):
        value = getattr(args, f.name, None)
        if value is None or value is False:
            continue
        parse: Callable[[str], Any] | None = f.metadata.get("parse")
        values[f.name] = parse(value) if parse is not None and isinstance(value, str) else value
    return Options(**values, progress=not args.quiet)


def _one_line_warning(
    message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    print(f"{PROG}: warning: {printable(message)}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    merging = bool(argv) and argv[0] == "merge"
    try:
        args = build_merge_parser().parse_args(argv[1:]) if merging else build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) and malformed flags (2, already printed)
        return int(exc.code or 0)
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warning
        try:
            if merging:
                from . import merge_stats

                result: Any = merge_stats(list(args.files))
            else:
                if not args.sources and not args.generator:
                    raise OptionsError("give at least one SOURCE (or --generator SPEC --num-samples N)")
                options = options_from_args(args)
                from . import compute

                result = compute(list(args.sources), options)
        except InceptionScoreError as exc:
            if args.debug:
                raise
            print(f"{PROG}: error: {printable(exc)}", file=sys.stderr)
            return exc.exit_code
        except KeyboardInterrupt:
            print(f"{PROG}: interrupted", file=sys.stderr)
            return 130
        except Exception as exc:  # a bug or an unforeseen failure: still one line unless --debug
            if args.debug:
                raise
            message = f"{type(exc).__name__}: {printable(exc)} (run with --debug for the traceback)"
            print(f"{PROG}: internal error: {message}", file=sys.stderr)
            return 1
    if _is_main_process():  # under torchrun, rank 0 speaks for all
        print(result.to_json() if args.json else "\n".join(printable(line) for line in result.summary_lines()))
    return 0


def _is_main_process() -> bool:
    if "torch" not in sys.modules:
        return True
    import torch.distributed as dist

    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
