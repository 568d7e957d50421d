"""The one typed source of truth for options, read by the Python API, the CLI and the metric object.

:class:`Options` is frozen and holds typed values: tuples for ranges, means and stds, a pair of
ints for a shard. Each field carries its command-line flag, its help text and, where the command
line writes it differently (``--image-range=-1,1``, ``--shard 0/4``), the parser that turns the
string into the typed value; :mod:`inception_score.cli` builds its parser from these fields, and
:func:`inception_score.compute` accepts the same names as keyword arguments. Every field is
validated here, once, by the checks below, which the rest of the package reuses; an unknown
option is an error, never silently ignored.

Example:
    >>> Options(splits=5).protocol
    'torch-fidelity'
    >>> Options(image_range=[-1, 1]).image_range
    (-1.0, 1.0)
    >>> parse_pair("0/4", "shard", int, sep="/")
    (0, 4)
    >>> try:
    ...     Options.from_kwargs(splitz=5)
    ... except OptionsError as err:
    ...     print(str(err)[:45])
    unknown option 'splitz'; known options: split
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .checks import check_choice, check_device, check_image_range, check_int, check_shard, check_triple
from .errors import OptionsError, a
from .metrics.names import METRICS as _METRIC_TABLE
from .metrics.protocols import PROTOCOLS
from .presets import COV_DIVISORS, KID_PROTOCOL_NAMES, PRESETS, RESIZES

__all__ = [
    "Options",
    "ON_ERROR",
    "PRECISIONS",
    "LATENTS",
    "METRICS",
    "PR_PRECISIONS",
    "DINOV2_RESIZES",
    "parse_pair",
]

ON_ERROR = ("fail", "skip")
PRECISIONS = ("exact", "fast")
LATENTS = ("normal", "sobol")
# IS; FID, KID, sFID, precision/recall, density/coverage in pool3; fd_, kd_, pr_, prdc_, fd_infinity_ in
# dinov2 and clip space; cmmd (metrics/names.py)
METRICS = tuple(_METRIC_TABLE)
PR_PRECISIONS = ("float16", "float32")
DINOV2_RESIZES = ("torch", "pil")  # EDM2's resize_mode: torch (its default) or pil (= dgm-eval)


# --------------------------------------------------------------------------- command-line parsers


def parse_pair(text: str, name: str, kind: Callable[[str], Any] = float, sep: str = ",") -> tuple[Any, Any]:
    """'a,b' (or 'i/K' with ``sep="/"``) -> a typed pair; OptionsError naming ``name`` otherwise."""
    parts = text.split(sep)
    try:
        if len(parts) != 2:
            raise ValueError
        return kind(parts[0].strip()), kind(parts[1].strip())
    except ValueError:
        example = "0/4" if sep == "/" else "-1,1"
        raise OptionsError(f"{name}: got {text!r}, expected two values like {example}") from None


def _parse_triple(text: str, name: str) -> tuple[float, ...]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise OptionsError(f"{name}: got {text!r}, expected 1 or 3 numbers such as 0.5,0.5,0.5") from None
    if len(values) not in (1, 3):
        raise OptionsError(f"{name}: got {text!r}, expected 1 or 3 numbers such as 0.5,0.5,0.5")
    return tuple(values * 3 if len(values) == 1 else values)


def _parse_range(text: str) -> tuple[float, float]:
    try:
        lo, hi = parse_pair(text, "image_range")
    except OptionsError:
        raise OptionsError(f"image_range: got {text!r}, expected two numbers lo,hi such as -1,1") from None
    if not lo < hi:
        raise OptionsError(f"image_range: got {text!r}, expected lo < hi")
    return lo, hi


def _parse_shard(text: str) -> tuple[int, int]:
    try:
        index, count = parse_pair(text, "shard", int, sep="/")
    except OptionsError:
        raise OptionsError(f"shard: got {text!r}, expected i/K, e.g. 0/4 for the first of 4 shards") from None
    if count < 1 or not 0 <= index < count:
        raise OptionsError(f"shard: got {text!r}, expected i/K with 0 <= i < K")
    return index, count


def _parse_metrics(text: str) -> tuple[str, ...]:
    return tuple(part.strip().lower() for part in text.split(",") if part.strip())


def _opt(default: Any, help: str, parse: Callable[[str], Any] | None = None, **cli: Any) -> Any:
    meta = {"help": help, **cli}
    if parse is not None:
        meta["parse"] = parse
    return field(default=default, metadata=meta)


# --------------------------------------------------------------------------- the options


@dataclass(frozen=True)
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
    device: str = _opt("auto", "auto, cpu, cuda, cuda:N, mps or xpu (auto: cuda if available)", metavar="DEVICE")
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
        "normal", "generator latents: normal (seeded) or sobol (scrambled Sobol, lower variance)", choices=LATENTS
    )
    image_range: tuple[float, float] | None = _opt(
        None,
        "value range of float images (arrays, generators): 0,1 (default), 0,255, or -1,1 "
        "(write --image-range=-1,1); floats are rounded to uint8, halves up",
        parse=_parse_range,
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
    classifier_mean: tuple[float, float, float] = _opt(
        (0.0, 0.0, 0.0),
        "per-channel mean subtracted from [0, 1] pixels for --classifier",
        parse=lambda s: _parse_triple(s, "classifier_mean"),
        metavar="M",
    )
    classifier_std: tuple[float, float, float] = _opt(
        (1.0, 1.0, 1.0),
        "per-channel std dividing [0, 1] pixels for --classifier",
        parse=lambda s: _parse_triple(s, "classifier_std"),
        metavar="S",
    )
    on_error: str = _opt(
        "fail",
        "unreadable image files: fail (default: stop with one line naming the first) or skip "
        "(score the rest; each skipped file is reported, and N counts only what was scored)",
        choices=ON_ERROR,
    )
    precision: str = _opt(
        "exact",
        "exact: IEEE fp32 as the references (default); fast: batch norm folded, channels_last and bf16 where "
        "the device has bf16 units (AVX-512 BF16 or AMX CPUs, GPUs from Ampere on), else float32 (said before "
        "the work; bf16 there would be slower than exact); deviation measured in the README (see --check-precision)",
        choices=PRECISIONS,
    )
    check_precision: int = _opt(
        0, "with --precision fast, also score the first N images exactly and report the deviation", metavar="N"
    )
    bootstrap: int = _opt(
        200, "bootstrap replicates (Poisson weights over images) for ci95 and bootstrap_std; 0: off", metavar="N"
    )
    seed: int = _opt(
        0,
        "seed of the bootstrap weights, of the IS- and FID-at-infinite-N subsets and of --prdc-subsample's draw "
        "(not of the splits, nor of KID's subsets: --kid-seed)",
        metavar="N",
    )
    shard: tuple[int, int] | None = _opt(
        None,
        "score only shard i of K (i/K, e.g. 0/4) of the images; needs --save-stats; see `merge`",
        parse=_parse_shard,
        metavar="i/K",
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
        "keep each image's network outputs in DIR, keyed by its pixels; later runs "
        "recompute only new or changed images",
        metavar="DIR",
    )
    report: str | None = _opt(
        None,
        "write report.html and its figures to DIR (classes, splits, IS at infinite N, most and least confident "
        "images; needs matplotlib: pip install 'matplotlib>=3.7')",
        metavar="DIR",
    )
    ref: Any = _opt(
        None,
        "reference (real) images for FID/KID/sFID/precision-recall: any source (folder, .npz, archive, glob, "
        "@list) or a statistics file (.npz: pytorch-fid's mu/sigma, an ADM reference batch, or `inception-score "
        "stats` output)",
        metavar="REF",
    )
    ref_sha256: str | None = _opt(
        None,
        "refuse a --ref file (or a published reference's download) whose sha256 is not this one",
        metavar="HEX",
    )
    metrics: tuple[str, ...] | None = _opt(
        None,
        "what to compute, comma-separated: is, fid, kid, sfid, pr (precision/recall), prdc (density/coverage); "
        "the same in DINOv2 and CLIP space: fd_dinov2, kd_dinov2, pr_dinov2, prdc_dinov2, fd_infinity_dinov2, "
        "fd_clip, kd_clip, pr_clip, prdc_clip, fd_infinity_clip; cmmd (CLIP, Jayasumana et al. 2024). "
        "Default: is, plus fid and kid with --ref (kid when the reference has images)",
        parse=_parse_metrics,
        metavar="LIST",
    )
    kid_subsets: int = _opt(100, "KID: number of random subsets (torch-fidelity's default)", metavar="N")
    kid_subset_size: int = _opt(
        1000,
        "KID: images per subset, from each set (torch-fidelity's default; --kid-protocol stylegan and clean-fid "
        "shrink it to the smaller set)",
        metavar="N",
    )
    kid_protocol: str = _opt(
        "torch-fidelity",
        "KID: how subsets are drawn: torch-fidelity (default), stylegan, clean-fid (also dgm-eval), torchmetrics; "
        "the last three are unseeded in their tools and seeded with --kid-seed here",
        choices=KID_PROTOCOL_NAMES,
    )
    kid_seed: int = _opt(2020, "KID: the seed of the subsets (torch-fidelity's 2020)", metavar="N")
    fid_infinity: bool = _opt(False, "also FID at infinite N (Chong & Forsyth 2020; keeps every pool3 feature)")
    pr_precision: str = _opt(
        "float16",
        "precision/recall distances in float16 (as the ADM evaluator) or float32",
        choices=PR_PRECISIONS,
    )
    pr_k: int = _opt(
        3,
        "precision/recall: the k of the k-nearest-neighbour radii (3: Kynkaanniemi et al. 2019, the ADM evaluator; "
        "5: dgm-eval)",
        metavar="K",
    )
    prdc_k: int = _opt(5, "density/coverage: the k of the k-nearest-neighbour radii (Naeem et al. 2020)", metavar="K")
    prdc_subsample: int | None = _opt(
        None,
        "precision/recall and density/coverage: score min(N, N samples, M reference images) randomly drawn images "
        "of each set (both sets cut to the same size), drawn with --seed (dgm-eval's --reduced_n 10000); default "
        "(or 0): every image",
        metavar="N",
    )
    match: str | None = _opt(
        None,
        "reproduce another tool's numbers: set every option in which it differs (resize, value scaling, covariance "
        "divisor, KID subsets, IS protocol, precision/recall arithmetic); options given explicitly still win, and "
        "the result records both. See README 'Which number do you want?'",
        choices=tuple(PRESETS),
    )
    resize: str = _opt(
        "tf1",
        "how images reach 299x299 and [-1, 1]: tf1 (the 2015 graph's own, default), pytorch-fid (torch bilinear, "
        "2x-1), clean-fid (Pillow bicubic in float), torchmetrics (antialiased bilinear)",
        choices=RESIZES,
    )
    cov_divisor: str = _opt(
        "n-1",
        "FID: divide the covariance by n-1 (np.cov: pytorch-fid, torch-fidelity, ADM; default) or by n (StyleGAN)",
        choices=COV_DIVISORS,
    )
    dinov2_weights: str | None = _opt(
        None,
        "DINOv2 ViT-L/14 weights (dinov2_vitl14_pretrain.pth) for the *_dinov2 metrics; default: "
        "$INCEPTION_SCORE_DINOV2_WEIGHTS, then the torch hub cache, then download",
        metavar="PATH",
    )
    dinov2_resize: str = _opt(
        "torch",
        "DINOv2's resize to 224: torch (EDM2's default: bicubic, antialiased, on floats) or pil (EDM2's 'pil' "
        "mode = dgm-eval: PIL bicubic to uint8)",
        choices=DINOV2_RESIZES,
    )
    clip_weights: str | None = _opt(
        None,
        "CLIP ViT-L/14@336 weights (Hugging Face openai/clip-vit-large-patch14-336 model.safetensors) for cmmd and "
        "the *_clip metrics; default: $INCEPTION_SCORE_CLIP_WEIGHTS, then the Hugging Face cache",
        metavar="PATH",
    )
    cmmd_drop_remainder: bool = _opt(
        False,
        "CMMD: leave out the last partial batch of 32 of each set, as Google's reference does (default: every "
        "image counts)",
    )
    compile: bool = _opt(
        False,
        "torch.compile the network: a one-off compilation (~40 s on a 2-core CPU, cached on disk by inductor), "
        "then ~16%% faster with --precision fast; pays off after a few thousand images",
    )
    sample_statistics: bool = _opt(
        False,
        "FID and sFID from the mu/sigma and mu_s/sigma_s stored in an .npz sample batch, where present, instead "
        "of from its images, as the ADM evaluator reads a sample batch (inception_score.evaluate sets it)",
        cli=False,
    )
    progress: bool = _opt(True, "show a progress bar on stderr", cli=False)
    explicit: tuple[str, ...] = _opt(
        (),
        "the names of the options given explicitly (set by the CLI and from_kwargs): they override --match",
        cli=False,
    )

    def __post_init__(self) -> None:
        """Validate every field and normalise typed values (lists -> tuples); OptionsError names the first bad one."""
        set_ = object.__setattr__  # frozen: normalised values are set once, here
        self._apply_match()
        check_choice(self.protocol, "protocol", tuple(PROTOCOLS))
        for name, minimum in (("splits", 1), ("batch_size", 1), ("num_workers", 0), ("num_samples", 1)):
            if getattr(self, name) is not None:
                set_(self, name, check_int(getattr(self, name), name, minimum))
        for name in ("check_precision", "bootstrap", "seed"):
            set_(self, name, check_int(getattr(self, name), name, 0))
        set_(self, "kid_subsets", check_int(self.kid_subsets, "kid_subsets"))
        set_(self, "kid_subset_size", check_int(self.kid_subset_size, "kid_subset_size", 2))
        set_(self, "prdc_k", check_int(self.prdc_k, "prdc_k"))
        set_(self, "pr_k", check_int(self.pr_k, "pr_k"))
        if self.prdc_subsample is not None:  # 0: every image (what overrides --match dgm-eval's 10,000)
            size = check_int(self.prdc_subsample, "prdc_subsample", 0)
            least = max(self.pr_k, self.prdc_k) + 1  # a subset of fewer images has no k-th neighbour
            if 0 < size < least:
                raise OptionsError(
                    f"prdc_subsample: got {size}, expected at least {least} (k + 1 images for the k-th neighbours, "
                    f"pr_k {self.pr_k}, prdc_k {self.prdc_k}), or 0 for every image"
                )
            set_(self, "prdc_subsample", size or None)
        set_(self, "kid_seed", check_int(self.kid_seed, "kid_seed", 0))
        check_choice(self.pr_precision, "pr_precision", PR_PRECISIONS)
        check_choice(self.kid_protocol, "kid_protocol", KID_PROTOCOL_NAMES)
        check_choice(self.resize, "resize", RESIZES)
        check_choice(self.cov_divisor, "cov_divisor", COV_DIVISORS)
        if self.metrics is not None:
            text = isinstance(self.metrics, str)  # "fid,kid" in Python as on the command line
            names = tuple(m.strip() for m in self.metrics.split(",")) if text else tuple(self.metrics)
            for name in names:
                check_choice(name, "metrics", METRICS)
            if not names:
                raise OptionsError(f"metrics: got nothing, expected some of {', '.join(METRICS)}")
            set_(self, "metrics", tuple(dict.fromkeys(names)))
            needs_ref = [m for m in self.metrics if m != "is"]
            if needs_ref and self.ref is None:
                raise OptionsError(
                    f"metrics: {' and '.join(needs_ref)} compare{'s' if len(needs_ref) == 1 else ''} the samples "
                    "with real images; give them with --ref REF"
                )
        if self.ref_sha256 is not None and self.ref is None:
            raise OptionsError("ref_sha256: pins the sha256 of a --ref file; give the file with --ref REF")
        if self.fid_infinity and self.ref is None:
            raise OptionsError("fid_infinity: compares the samples with real images; give them with --ref REF")
        for name in ("z_dim", "classifier_size"):
            if getattr(self, name) is not None:
                set_(self, name, check_int(getattr(self, name), name, 1))
        if self.splits is not None and PROTOCOLS[self.protocol].chunk is not None:
            raise OptionsError(
                f"splits: got {self.splits}, but protocol {self.protocol!r} uses consecutive chunks of "
                f"{PROTOCOLS[self.protocol].chunk} images; leave splits unset"
            )
        check_choice(self.on_error, "on_error", ON_ERROR)
        check_choice(self.precision, "precision", PRECISIONS)
        check_choice(self.latents, "latents", LATENTS)
        check_device(self.device)
        set_(self, "image_range", check_image_range(self.image_range))
        set_(self, "classifier_mean", check_triple(self.classifier_mean, "classifier_mean"))
        set_(self, "classifier_std", check_triple(self.classifier_std, "classifier_std"))
        set_(self, "shard", check_shard(self.shard))
        if self.ref is not None and hasattr(self.ref, "__fspath__"):
            set_(self, "ref", str(self.ref.__fspath__()))
        check_choice(self.dinov2_resize, "dinov2_resize", DINOV2_RESIZES)
        for name in ("weights", "dinov2_weights", "clip_weights", "generator", "classifier", "save_stats", "state",
                     "cache", "report", "ref_sha256"):  # fmt: skip
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                if hasattr(value, "__fspath__"):
                    set_(self, name, str(value.__fspath__()))
                else:
                    raise OptionsError(f"{name}: got {a(type(value).__name__)}, expected a path or spec as a string")
        for name in ("recursive", "compile", "progress", "fid_infinity", "sample_statistics", "cmmd_drop_remainder"):
            if not isinstance(getattr(self, name), bool):
                raise OptionsError(f"{name}: got {getattr(self, name)!r}, expected True or False")
        if self.check_precision and self.precision != "fast":
            raise OptionsError(
                f"check_precision: got {self.check_precision}, but it compares fast with exact; add --precision fast"
            )
        if self.classifier is None:  # the Inception network takes 299 x 299 images, scaled its own way
            unset = {"classifier_size": None, "classifier_mean": (0.0,) * 3, "classifier_std": (1.0,) * 3}
            for name, default in unset.items():
                if getattr(self, name) != default:
                    raise OptionsError(
                        f"{name}: only with --classifier (the Inception network has its own input size and scaling)"
                    )
        if self.generator and not self.num_samples:
            raise OptionsError("num_samples: a generator needs to know how many images to draw (--num-samples N)")
        if self.cache and self.check_precision:
            raise OptionsError("check_precision: compares fresh computations; run it without --cache")
        if self.shard is not None and not self.save_stats:
            i, k = self.shard
            raise OptionsError(f"shard: {i}/{k} needs --save-stats PATH, so that `merge` can add the shards")
        interval = self.state_interval
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not interval >= 0:
            raise OptionsError(f"state_interval: got {interval!r}, expected a number of seconds >= 0")

    def _apply_match(self) -> None:
        """``match``: set each of the preset's options that was not given explicitly (:mod:`.presets`).

        An option counts as given when it is named in ``explicit`` (the CLI and :meth:`from_kwargs`
        fill it) or, for an ``Options(...)`` built directly, when its value differs from the default.
        """
        if self.match is None:
            return
        check_choice(self.match, "match", tuple(PRESETS))
        set_ = object.__setattr__
        set_(self, "explicit", tuple(self.explicit))
        preset = PRESETS[self.match]
        wanted = {**preset.settings, **(preset.with_ref if self.ref is not None else {})}
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        for name, value in wanted.items():
            if name not in self.explicit and getattr(self, name) == defaults[name]:
                set_(self, name, value)

    def set_by_match(self, name: str) -> bool:
        """Whether ``name`` holds the value ``match``'s preset gave it (rather than one given explicitly).

        Example:
            >>> Options.from_kwargs(match="dgm-eval").set_by_match("dinov2_resize")
            True
            >>> Options.from_kwargs(match="dgm-eval", dinov2_resize="pil").set_by_match("dinov2_resize")
            False
        """
        if self.match is None or name in self.explicit:
            return False
        preset = PRESETS[self.match]
        wanted = {**preset.settings, **(preset.with_ref if self.ref is not None else {})}
        return name in wanted and getattr(self, name) == wanted[name]

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> Options:
        """Options from keyword arguments, refusing unknown names; those given override ``match``."""
        known = [f.name for f in dataclasses.fields(cls)]
        for key in kwargs:
            if key not in known:
                raise OptionsError(f"unknown option {key!r}; known options: {', '.join(known)}")
        kwargs.setdefault("explicit", tuple(k for k in kwargs if k != "progress"))
        return cls(**kwargs)
