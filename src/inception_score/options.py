"""The one typed source of truth for options, read by both the Python API and the CLI.

Each field carries its command-line flag and help text as metadata; :mod:`inception_score.cli`
builds its parser from these fields, and :func:`inception_score.compute` accepts the same names
as keyword arguments. An unknown option is an error, never silently ignored.

Example:
    >>> Options(splits=5).protocol
    'torch-fidelity'
    >>> try:
    ...     Options.from_kwargs(splitz=5)
    ... except OptionsError as err:
    ...     print(str(err)[:45])
    unknown option 'splitz'; known options: split
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .errors import OptionsError
from .protocols import PROTOCOLS

ON_ERROR = ("fail", "skip")
PRECISIONS = ("exact", "fast")  # kept here (not imported from runtime) so that --help needs no torch

__all__ = ["Options"]


def _opt(default: Any, help: str, **cli: Any) -> Any:
    return field(default=default, metadata={"help": help, **cli})


@dataclass
class Options:
    """How to compute the score. Every field is also a CLI flag (``batch_size`` -> ``--batch-size``)."""

    splits: int | None = _opt(
        None,
        "number of splits (default: 10; not used by --protocol adm, which splits into chunks of 5000)",
        metavar="N",
    )
    protocol: str = _opt(
        "torch-fidelity",
        "how to split: torch-fidelity (seeded shuffle, default), original (improved-gan / "
        "StyleGAN is50k: file order), adm (guided-diffusion evaluator: chunks of 5000)",
        choices=tuple(PROTOCOLS),
    )
    weights: str | None = _opt(
        None,
        "Inception weights file (.pth); default: $INCEPTION_SCORE_WEIGHTS, then the torch hub cache, then download",
        metavar="PATH",
    )
    device: str = _opt("auto", "auto, cpu, cuda or cuda:N (auto: cuda if available)", metavar="DEVICE")
    batch_size: int | None = _opt(
        None, "images per forward pass (default: 64 on cpu; on cuda, from free GPU memory, at most 500)", metavar="N"
    )
    num_workers: int | None = _opt(None, "decoding processes (default: 0 on cpu, up to 16 on cuda)", metavar="N")
    recursive: bool = _opt(False, "look for images in sub-folders too")
    num_samples: int | None = _opt(
        None, "images to draw from a generator (--generator, or a sample function in the API)", metavar="N"
    )
    generator: str | None = _opt(
        None,
        "score a generator instead of files: a TorchScript file or module:function; f(n) returns n images, "
        "or an nn.Module taking latents (with --z-dim)",
        metavar="SPEC",
    )
    z_dim: int | None = _opt(None, "latent size of an nn.Module generator (default: its z_dim attribute)", metavar="D")
    latents: str = _opt(
        "normal",
        "generator latents: normal (seeded) or sobol (scrambled Sobol, lower variance)",
        choices=("normal", "sobol"),
    )
    image_range: str | tuple[float, float] | None = _opt(
        None,
        "value range of a generator's float images: 0,1 (default), 0,255, or -1,1 "
        "(write --image-range=-1,1); floats are rounded to uint8",
        metavar="LO,HI",
    )
    classifier: str | None = _opt(
        None,
        "use another classifier as p(y|x): a TorchScript file or module:callable returning logits; the "
        "score is then NOT comparable with the standard IS",
        metavar="SPEC",
    )
    classifier_size: int | None = _opt(
        None, "resize images to SxS (TF1 bilinear) for --classifier (default: keep their size)", metavar="S"
    )
    classifier_mean: str = _opt("0,0,0", "per-channel mean subtracted from [0, 1] pixels for --classifier", metavar="M")
    classifier_std: str = _opt("1,1,1", "per-channel std dividing [0, 1] pixels for --classifier", metavar="S")
    on_error: str = _opt(
        "fail",
        "unreadable image files: fail (default: stop with one line naming the first) or skip "
        "(score the rest; each skipped file is reported, and N counts only what was scored)",
        choices=ON_ERROR,
    )
    precision: str = _opt(
        "exact",
        "exact: IEEE fp32 as the references (default); fast: bf16 and channels_last, several times "
        "faster, deviation measured in the README (see --check-precision)",
        choices=PRECISIONS,
    )
    check_precision: int = _opt(
        0, "with --precision fast, also score the first N images exactly and report the deviation", metavar="N"
    )
    bootstrap: int = _opt(
        200, "bootstrap replicates (Poisson weights over images) for ci95 and bootstrap_std; 0: off", metavar="N"
    )
    seed: int = _opt(
        0, "seed of the bootstrap weights and of the IS-at-infinite-N subsets (not of the splits)", metavar="N"
    )
    shard: str | None = _opt(
        None, "score only shard i of K (i/K, e.g. 0/4) of the images; needs --save-stats; see `merge`", metavar="i/K"
    )
    save_stats: str | None = _opt(
        None,
        "write the accumulated statistics (small, with provenance) to PATH, for `inception-score merge`",
        metavar="PATH",
    )
    state: str | None = _opt(
        None, "resumable run: save progress to PATH periodically; the same command continues from it", metavar="PATH"
    )
    state_interval: float = _opt(60.0, "seconds between saves of --state", metavar="SECONDS")
    cache: str | None = _opt(
        None,
        "keep each image's logits and pool3 features in DIR, keyed by its pixels; later runs "
        "recompute only new or changed images",
        metavar="DIR",
    )
    report: str | None = _opt(
        None,
        "write report.html and its figures to DIR (classes, splits, IS at infinite N, most and least confident images)",
        metavar="DIR",
    )
    compile: bool = _opt(False, "torch.compile the network (faster for long runs; the first compile takes minutes)")
    progress: bool = _opt(True, "show a progress bar on stderr", cli=False)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise OptionsError naming the first option with a value outside what is accepted."""
        if self.protocol not in PROTOCOLS:
            raise OptionsError(f"protocol: got {self.protocol!r}, expected one of {', '.join(PROTOCOLS)}")
        for name in (
            "splits",
            "batch_size",
            "num_workers",
            "check_precision",
            "bootstrap",
            "seed",
            "num_samples",
            "z_dim",
        ):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise OptionsError(f"{name}: got {value!r}, expected an integer")
            minimum = 0 if name in ("num_workers", "check_precision", "bootstrap", "seed") else 1
            if value < minimum:
                kind = "a non-negative" if minimum == 0 else "a positive"
                raise OptionsError(f"{name}: got {value}, expected {kind} integer")
        if self.splits is not None and PROTOCOLS[self.protocol].chunk is not None:
            raise OptionsError(
                f"splits: got {self.splits}, but protocol {self.protocol!r} uses consecutive chunks of "
                f"{PROTOCOLS[self.protocol].chunk} images; leave splits unset"
            )
        if self.on_error not in ON_ERROR:
            raise OptionsError(f"on_error: got {self.on_error!r}, expected one of {', '.join(ON_ERROR)}")
        if self.precision not in PRECISIONS:
            raise OptionsError(f"precision: got {self.precision!r}, expected one of {', '.join(PRECISIONS)}")
        if self.check_precision and self.precision != "fast":
            raise OptionsError(
                f"check_precision: got {self.check_precision}, but it compares fast with exact; add --precision fast"
            )
        if self.latents not in ("normal", "sobol"):
            raise OptionsError(f"latents: got {self.latents!r}, expected normal or sobol")
        self.parsed_image_range()
        if self.generator and not self.num_samples:
            raise OptionsError("num_samples: --generator needs --num-samples N (how many images to draw)")
        if self.cache and self.check_precision:
            raise OptionsError("check_precision: compares fresh computations; run it without --cache")
        if self.shard is not None:
            from .distributed import parse_shard

            parse_shard(self.shard)
            if not self.save_stats:
                raise OptionsError(f"shard: {self.shard} needs --save-stats PATH, so that `merge` can add the shards")
        if (
            isinstance(self.state_interval, bool)
            or not isinstance(self.state_interval, (int, float))
            or (self.state_interval < 0)
        ):
            raise OptionsError(f"state_interval: got {self.state_interval!r}, expected a number of seconds >= 0")
        device = self.device
        if not isinstance(device, str) or not (
            device in ("auto", "cpu", "cuda") or (device.startswith("cuda:") and device[5:].isdigit())
        ):
            raise OptionsError(f"device: got {device!r}, expected auto, cpu, cuda or cuda:N")

    def parsed_image_range(self) -> tuple[float, float] | None:
        """``image_range`` as (lo, hi): accepts "lo,hi" (CLI) or a pair (API)."""
        value = self.image_range
        if value is None:
            return None
        try:
            parts = value.split(",") if isinstance(value, str) else list(value)
            lo, hi = (float(v) for v in parts)
        except (TypeError, ValueError):
            raise OptionsError(f"image_range: got {value!r}, expected two numbers lo,hi such as -1,1") from None
        if not lo < hi:
            raise OptionsError(f"image_range: got {value!r}, expected lo < hi")
        return lo, hi

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> Options:
        """Options from keyword arguments, refusing unknown names."""
        known = [f.name for f in dataclasses.fields(cls)]
        for key in kwargs:
            if key not in known:
                raise OptionsError(f"unknown option {key!r}; known options: {', '.join(known)}")
        return cls(**kwargs)

    def replace(self, **changes: Any) -> Options:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
