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
import json
import os
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
  inception-score samples/ --ref real/          IS, FID and KID against real images, in one pass
  inception-score stats real/ -o ref.npz --with-features   a reference once, for --ref ref.npz later
  inception-score evaluate VIRTUAL_imagenet256_labeled.npz samples.npz   the ADM evaluator's numbers
  inception-score samples/ --ref edm:cifar10-32x32 --match edm2   a published reference, by name
  inception-score refs                          the published references --ref knows by name

weights: --weights PATH, else $INCEPTION_SCORE_WEIGHTS, else the torch hub cache
($TORCH_HOME/hub/checkpoints, shared with torch-fidelity and pytorch-fid), else download.
"""


class _Parser(argparse.ArgumentParser):
    """argparse, but a malformed command line is one line and exit code 2 (no usage block), and an
    abbreviated or misspelled option is an error (argparse would take ``--split 5`` as ``--splits``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_abbrev=False, **kwargs)

    def error(self, message: str) -> NoReturn:
        print(f"{PROG}: error: {printable(message)} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def _output_flags(parser: argparse.ArgumentParser) -> None:
    """The flags of every subcommand that prints a result."""
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def _option_flags(parser: argparse.ArgumentParser, names: Sequence[str] | None = None) -> None:
    """One flag per field of Options (or of ``names``), typed as the field."""
    for f in dataclasses.fields(Options):
        if names is not None and f.name not in names:
            continue
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


RUN_FLAGS = ("weights", "device", "batch_size", "num_workers", "recursive", "image_range", "on_error", "precision",
             "cache", "compile", "resize", "dinov2_weights", "dinov2_resize", "clip_weights")  # fmt: skip


USAGE = f"""\
{PROG} SOURCE... [options]                       score images (IS; FID, KID... with --ref)
       {PROG} stats SOURCE... -o FILE.npz [options]     a reference's statistics, once
       {PROG} evaluate REF_BATCH SAMPLE_BATCH [options] the ADM evaluator's numbers
       {PROG} merge FILE... [options]                   the result of --shard runs
       ({PROG} COMMAND --help for a command's options)"""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        usage=USAGE,
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
    _option_flags(parser)
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
    _option_flags(parser, ("report",))  # the gallery of images is left out: the shards' images are not read
    _output_flags(parser)
    return parser


def build_stats_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=f"{PROG} stats",
        description="Compute a reference once: mu and sigma of the pool3 features (pytorch-fid's keys and "
        "conventions: pytorch-fid's fid_score.py reads the file; the ADM evaluator does not, as it needs the images "
        "in arr_0), optionally the spatial statistics (sFID) and the features (KID, precision/recall), with "
        "provenance. Pass the file with --ref later.",
    )
    parser.add_argument("sources", nargs="+", metavar="SOURCE", help="the reference images (any source)")
    parser.add_argument("-o", "--output", required=True, metavar="FILE.npz", help="where to write the statistics")
    parser.add_argument("--with-features", action="store_true", help="also the pool3 features (8 KB per image)")
    parser.add_argument("--spatial", action="store_true", help="also mu_s/sigma_s of the spatial features (sFID)")
    parser.add_argument(
        "--metrics",
        dest="stats_metrics",  # not the run's --metrics (which compare with a --ref): what the file is for
        metavar="LIST",
        help="the metrics the file is for, comma-separated (default: fid): pool3 statistics for fid, kid, pr, prdc; "
        "mu_dinov2/sigma_dinov2 (and with --with-features features_dinov2) for fd_dinov2 and the other *_dinov2 "
        "metrics; the same for *_clip; cmmd writes features_clip",
    )
    _option_flags(parser, (*RUN_FLAGS, "match"))
    _output_flags(parser)
    return parser


def build_evaluate_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=f"{PROG} evaluate",
        description="The ADM evaluator's numbers (openai/guided-diffusion evaluations/evaluator.py): Inception "
        "Score (chunks of 5000), FID, sFID, precision and recall (k=3, float16 distances), plus density and "
        "coverage (k=5), from one pass per set, without TensorFlow.",
    )
    parser.add_argument("ref_batch", metavar="REF_BATCH", help="reference batch: an ADM .npz (arr_0, mu, sigma, ...)")
    parser.add_argument("sample_batch", metavar="SAMPLE_BATCH", help="samples: an ADM .npz, or any source")
    _option_flags(parser, (*RUN_FLAGS, "pr_precision", "pr_k", "prdc_k", "metrics"))
    _output_flags(parser)
    return parser


def evaluator_lines(result: Any) -> list[str]:
    """The evaluator's five lines (its names and order), then density and coverage and the provenance."""
    lines = [f"Inception Score: {result.inception_score_mean}"]
    for label, value in (("FID", result.fid), ("sFID", result.sfid), ("Precision", result.improved_precision),
                         ("Recall", result.improved_recall), ("Density", result.density),
                         ("Coverage", result.coverage)):  # fmt: skip
        if value is not None:
            lines.append(f"{label}: {value}")
    shown = ("reference:", "samples:", "weights:", "time:")
    extra = [line for line in result.summary_lines() if line.startswith(shown)]
    return lines + extra


def evaluator_json(result: Any) -> str:
    """One JSON object with the evaluator's names (inception_score, fid, sfid, precision, recall), then
    density, coverage and the whole result under ``details``."""
    import json

    payload = {
        "inception_score": result.inception_score_mean,
        "fid": result.fid,
        "sfid": result.sfid,
        "precision": result.improved_precision,
        "recall": result.improved_recall,
        "density": result.density,
        "coverage": result.coverage,
        "details": result.to_dict(),
    }
    return json.dumps(payload, indent=2)


def options_from_args(args: argparse.Namespace) -> Options:
    """The parsed flags as :class:`Options`: strings parsed into typed values, defaults where unset."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Options):
        value = getattr(args, f.name, None)
        if value is None or value is False:
            continue
        parse: Callable[[str], Any] | None = f.metadata.get("parse")
        values[f.name] = parse(value) if parse is not None and isinstance(value, str) else value
    return Options(**values, progress=not args.quiet, explicit=tuple(values))


def _one_line_warning(
    message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    """One line per warning, on rank 0 only under torchrun (the ranks warn alike), and through tqdm so
    that it does not share a line with a progress bar."""
    if _rank():
        return
    from tqdm import tqdm

    tqdm.write(f"{PROG}: warning: {printable(message)}", file=sys.stderr)


def build_refs_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=f"{PROG} refs",
        description="The published reference statistics that --ref accepts by name (e.g. --ref adm:imagenet256): "
        "URL, format, what the file holds, the --match preset it goes with, where it is documented, and whether "
        "a copy is already cached.",
    )
    parser.add_argument("family", nargs="?", metavar="FAMILY", help="only these: adm, edm, edm2 or clean-fid")
    _output_flags(parser)
    return parser


def refs_listing(family: str | None) -> list[dict[str, Any]]:
    """The published references (of ``family``) as dicts, with whether each is cached."""
    from .run.published import REFS, refs_dir

    if family is not None and not any(name.startswith(family + ":") for name in REFS):
        families = sorted({name.split(":", 1)[0] for name in REFS})
        raise OptionsError(f"refs: unknown family {family!r}; expected one of {', '.join(families)}")
    out = []
    for entry in REFS.values():
        if family is None or entry.name.startswith(family + ":"):
            cached = refs_dir() / entry.filename
            out.append({**dataclasses.asdict(entry), "cached": str(cached) if cached.is_file() else None})
    return out


SUBCOMMANDS = {
    "merge": build_merge_parser,
    "stats": build_stats_parser,
    "evaluate": build_evaluate_parser,
    "refs": build_refs_parser,
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    try:
        args = SUBCOMMANDS[command]().parse_args(argv[1:]) if command else build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) and malformed flags (2, already printed)
        return int(exc.code or 0)
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warning
        try:
            result: Any = _run_command(command, args)
        except InceptionScoreError as exc:
            if args.debug:
                raise
            rank = _rank()
            if rank == 0 or _ranks_joined():  # before the ranks join, each checks the same: rank 0 speaks
                text = _as_flag(exc) if isinstance(exc, OptionsError) else str(exc)
                print(f"{PROG}: error: {f'rank {rank}: ' if rank else ''}{printable(text)}", file=sys.stderr)
            return exc.exit_code
        except KeyboardInterrupt:
            print(f"{PROG}: interrupted{printable(_saved_progress(getattr(args, 'state', None)))}", file=sys.stderr)
            return 130
        except Exception as exc:  # a bug or an unforeseen failure: still one line unless --debug
            if args.debug:
                raise
            if _rank() and _ranks_joined() and _is_lost_peer(exc):  # another rank stopped first and said why
                print(
                    f"{PROG}: error: rank {_rank()}: stopped, as another rank stopped (see its error)", file=sys.stderr
                )
                return 1
            message = f"{type(exc).__name__}: {printable(exc)} (run with --debug for the traceback)"
            print(f"{PROG}: internal error: {message}", file=sys.stderr)
            return 1
    if _is_main_process():  # under torchrun, rank 0 speaks for all
        if command == "evaluate":
            text = evaluator_json(result) if args.json else "\n".join(printable(x) for x in evaluator_lines(result))
        elif command == "refs":
            text = (
                json.dumps(result, indent=2)
                if args.json
                else "\n".join(printable(line) for line in _refs_lines(result))
            )
        elif command == "stats":
            text = (json.dumps({"output": args.output, **result}, indent=2) if args.json else
                    printable(f"statistics of {result['num_images']} images written to {args.output}"))  # fmt: skip
        else:
            text = result.to_json() if args.json else "\n".join(printable(line) for line in result.summary_lines())
            if getattr(args, "report", None) and not args.json and hasattr(result, "inception_score_mean"):
                from .report.html import REPORT_NAME

                text += "\n" + printable(f"report: {os.path.join(args.report, REPORT_NAME)}")
        print(text)
    return 0


def _run_command(command: str | None, args: argparse.Namespace) -> Any:
    """Run the (sub)command of the parsed arguments; returns its result."""
    from . import compute, compute_statistics, evaluate, merge_stats

    if command == "merge":
        return merge_stats(list(args.files), report=args.report)
    if command == "refs":
        return refs_listing(args.family)
    if command == "evaluate":
        args.ref = args.ref_batch  # checking --metrics needs it: fid, kid, sfid, pr and prdc compare with it
    options = options_from_args(args)
    if command == "stats":
        given = (*RUN_FLAGS, "match")  # only those on the command line, so that --resize overrides --match
        values = {name: getattr(options, name) for name in given if name in options.explicit}
        return compute_statistics(list(args.sources), args.output, features=args.with_features,
                                  spatial=args.spatial, metrics=args.stats_metrics, progress=options.progress,
                                  **values)  # fmt: skip
    if command == "evaluate":
        values = {f.name: getattr(options, f.name) for f in dataclasses.fields(Options)
                  if f.name != "ref" and getattr(args, f.name, None) not in (None, False)}  # fmt: skip
        return evaluate(args.ref_batch, args.sample_batch, progress=options.progress, **values)
    if not args.sources and not args.generator:
        raise OptionsError("give at least one SOURCE (or --generator SPEC --num-samples N)")
    return compute(list(args.sources), options)


def _saved_progress(state: str | None) -> str:
    """What an interrupted run can say about its --state file: only what is true (the first save
    comes after --state-interval seconds, so a run stopped before it has saved nothing)."""
    if not state:
        return ""
    path = f"{state}.rank{_rank()}" if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1 else state
    if os.path.isfile(path):
        return f"; {path} holds the progress saved so far: run the same command to continue"
    return f"; nothing was saved yet ({path} is written every --state-interval seconds): the same command starts over"


def _refs_lines(listing: list[dict[str, Any]]) -> list[str]:
    """Two lines a reference: its name, format and preset, then its URL (and the cached copy)."""
    lines = []
    for e in listing:
        lines.append(f"{e['name']:<42} {e['format']:<11} --match {e['preset']:<16} {e['holds']}")
        lines.append(f"    {e['url']}" + (f"  (cached: {e['cached']})" if e["cached"] else ""))
    lines.append("sources: " + "; ".join(dict.fromkeys(e["source"] for e in listing)))
    return lines


def _as_flag(exc: OptionsError) -> str:
    """An option error as the command line's user typed it: ``save_stats: ...`` -> ``--save-stats: ...``
    (the API's messages name the keyword arguments)."""
    text = str(exc)
    name, sep, rest = text.partition(": ")
    fields = {f.name for f in dataclasses.fields(Options)}
    return f"--{name.replace('_', '-')}: {rest}" if sep and name in fields else text


def _rank() -> int:
    """This process's rank under torchrun (0 otherwise)."""
    try:
        return int(os.environ.get("RANK", "0") or 0)
    except ValueError:
        return 0


def _ranks_joined() -> bool:
    if "torch" not in sys.modules:
        return False
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def _is_lost_peer(exc: BaseException) -> bool:
    """A collective that failed because another rank exited (gloo: connection closed or reset)."""
    text = f"{type(exc).__name__} {exc}".lower()
    return "distbackenderror" in text or any(
        w in text for w in ("connection closed", "connection reset", "gloo", "nccl")
    )


def _is_main_process() -> bool:
    if "torch" not in sys.modules:
        return True
    import torch.distributed as dist

    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
