"""``--match TOOL``: one name for every setting in which the tools that publish FID, KID and IS differ.

The tools run the same 2015 Inception graph and still print different numbers for the same
images: they resize differently, scale pixels differently, divide the covariance by N or N - 1,
draw KID's subsets differently (most of them unseeded), split IS differently. A :class:`Preset`
is the list of :class:`~inception_score.options.Options` values that reproduce one tool, as data:
``--match clean-fid`` sets them all, an option given explicitly still wins (``--match stylegan
--cov-divisor n-1``), and the result's ``match`` field records the preset, the values it set, the
ones that were overridden, and what the tool does that cannot be reproduced (an unseeded draw is
matched in its definition, with our seed). Sources: REFERENCE-FEATURES §3, REFERENCE-METRICS §1-2,
and each tool's code at the version named in :attr:`Preset.matches`.

This module imports neither torch nor numpy: the command line's ``--help`` reads it.

Example:
    >>> PRESETS["stylegan"].settings["cov_divisor"]
    'n'
    >>> sorted(PRESETS)[:3]
    ['adm', 'clean-fid', 'clean-fid-legacy']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Preset", "PRESETS", "RESIZES", "COV_DIVISORS", "KID_PROTOCOL_NAMES", "KID_SHRINKING", "match_record"]

#: ``--resize`` (features/preprocess.py RESIZE_MODES, where each is described).
RESIZES = ("tf1", "pytorch-fid", "clean-fid", "torchmetrics")
#: ``--cov-divisor``: the covariance of FID's Gaussians divided by N - 1 (np.cov) or by N (StyleGAN).
COV_DIVISORS = ("n-1", "n")
#: ``--kid-protocol`` (metrics/kernel.py KID_PROTOCOLS, where each is described).
KID_PROTOCOL_NAMES = ("torch-fidelity", "stylegan", "clean-fid", "torchmetrics")
#: the KID protocols whose subset size shrinks to the smaller set instead of being refused
KID_SHRINKING = ("stylegan", "clean-fid")

_UNSEEDED_KID = (
    "KID: the tool draws its subsets from an unseeded global generator; here they are its draws after seeding "
    "that generator with --kid-seed (default 2020), so the number is reproducible and the tool's own runs scatter "
    "around it by kid_std"
)


@dataclass(frozen=True)
class Preset:
    """The option values that reproduce one tool's numbers (``settings``), and what they cannot.

    ``with_ref``: settings applied only when a reference is given (metrics that compare with it).
    Settings of one network (``dinov2_resize``) apply to its metrics when they are asked for, and are
    not refused on runs without them (as the same option given explicitly would be).
    """

    name: str
    matches: str  # the tool, its version tested, and what it computes
    settings: dict[str, Any]
    notes: tuple[str, ...] = ()
    with_ref: dict[str, Any] = field(default_factory=dict)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "torch-fidelity",
            "torch-fidelity 0.4.0 calculate_metrics(isc, fid, kid, prc with feature_layer_prc='2048')",
            {
                "resize": "tf1",
                "protocol": "torch-fidelity",
                "cov_divisor": "n-1",
                "kid_protocol": "torch-fidelity",
                "kid_subsets": 100,
                "kid_subset_size": 1000,
                "pr_k": 3,
                "pr_precision": "float32",
            },
            (
                "the defaults without --match, except precision/recall distances: float32 here as torch-fidelity's "
                "cdist, float16 by default as the ADM evaluator; torch-fidelity's own precision/recall default to "
                "VGG16 features, this package's are pool3",
            ),
        ),
        Preset(
            "pytorch-fid",
            "pytorch-fid 0.3.0 (fid_score.py, --dims 2048): FID only",
            {"resize": "pytorch-fid", "cov_divisor": "n-1"},
            ("pytorch-fid computes FID only: IS and KID keep torch-fidelity's definitions",),
        ),
        Preset(
            "clean-fid",
            "clean-fid 0.1.35 compute_fid/compute_kid(mode='clean')",
            {
                "resize": "clean-fid",
                "cov_divisor": "n-1",
                "kid_protocol": "clean-fid",
                "kid_subsets": 100,
                "kid_subset_size": 1000,
            },
            (
                _UNSEEDED_KID,
                "KID: clean-fid prints the mean only; kid_std is ours",
                "clean-fid computes no IS: IS keeps torch-fidelity's definition",
            ),
        ),
        Preset(
            "clean-fid-legacy",
            "clean-fid 0.1.35 compute_fid/compute_kid(mode='legacy_tensorflow')",
            {
                "resize": "tf1",
                "cov_divisor": "n-1",
                "kid_protocol": "clean-fid",
                "kid_subsets": 100,
                "kid_subset_size": 1000,
            },
            (
                "resize: clean-fid's legacy mode lets NVIDIA's TorchScript port of the graph resize, which emulates "
                "TF1 bilinear with grid_sample (about 2e-5 from TensorFlow per clean-fid's docs); here the exact TF1 "
                "resize",
                _UNSEEDED_KID,
                "KID: clean-fid prints the mean only; kid_std is ours",
                "clean-fid computes no IS: IS keeps torch-fidelity's definition",
            ),
        ),
        Preset(
            "torchmetrics",
            "torchmetrics 1.9.0 FrechetInceptionDistance / KernelInceptionDistance / InceptionScore defaults",
            {
                "resize": "torchmetrics",
                "protocol": "torchmetrics",
                "cov_divisor": "n-1",
                "kid_protocol": "torchmetrics",
                "kid_subsets": 100,
                "kid_subset_size": 1000,
            },
            (
                "IS: torchmetrics permutes with an unseeded torch.randperm; here seeded 0 (protocol torchmetrics)",
                _UNSEEDED_KID.replace("global generator", "torch.randperm"),
                "floats: torchmetrics' normalize=True truncates (x * 255).byte(); here floats are rounded, one rule "
                "everywhere (give uint8 images for the same pixels)",
            ),
        ),
        Preset(
            "stylegan",
            "StyleGAN2-ADA / StyleGAN3 metrics (fid50k_full, kid50k_full, is50k)",
            {
                "resize": "tf1",
                "protocol": "original",
                "cov_divisor": "n",
                "kid_protocol": "stylegan",
                "kid_subsets": 100,
                "kid_subset_size": 1000,
            },
            (
                "not on PyPI: tested against its definitions (np.cov(bias=True); its KID loop)",
                "resize: StyleGAN's TorchScript port emulates TF1 bilinear with grid_sample; here the exact TF1 resize",
                _UNSEEDED_KID,
                "a reference statistics file with an N - 1 covariance is rescaled by (N - 1) / N when it records N",
                "precision/recall: StyleGAN's pr50k3 uses VGG16 features, not reproduced (pool3 here)",
            ),
        ),
        Preset(
            "adm",
            "openai/guided-diffusion evaluations/evaluator.py (what `inception-score evaluate` does)",
            {
                "resize": "tf1",
                "protocol": "adm",
                "cov_divisor": "n-1",
                "pr_k": 3,
                "pr_precision": "float16",
                "prdc_k": 5,
            },
            ("the evaluator has no KID; density/coverage (k = 5, Naeem et al.) are added to its five numbers",),
            with_ref={"metrics": ("is", "fid", "sfid", "pr", "prdc")},
        ),
        Preset(
            "edm2",
            "NVlabs/edm2 4bf8162 calculate_metrics.py (fid, fd_dinov2 with its default resize_mode='torch')",
            {"resize": "tf1", "cov_divisor": "n-1", "dinov2_resize": "torch"},
            (
                "resize: EDM2's Inception detector is NVIDIA's TorchScript port (grid_sample emulation of TF1); here "
                "the exact TF1 resize",
                "EDM2 computes no IS or KID: they keep torch-fidelity's definitions",
                "image selection (calc --num 50000 --seed 0: a seeded shuffle of the sorted files when there are more) "
                "is not reproduced: give exactly the images to score",
                "EDM2 computes fid and fd_dinov2 together: ask for both with --metrics fid,fd_dinov2",
            ),
        ),
        Preset(
            "dgm-eval",
            "layer6ai-labs/dgm-eval 74c79f7 (its DINOv2 encoder = EDM2's pil mode; its Inception encoder = "
            "pytorch-fid's network and resize; prdc with k = 5 on 10,000-image subsets)",
            {
                "resize": "pytorch-fid",
                "dinov2_resize": "pil",
                "cov_divisor": "n-1",
                "kid_protocol": "clean-fid",
                "kid_subsets": 100,
                "kid_subset_size": 1000,
                "pr_k": 5,
                "pr_precision": "float32",
                "prdc_k": 5,
                "prdc_subsample": 10_000,
            },
            (
                "not on PyPI: tested against its definitions (its KID draws the reference first, m = min(N, M, "
                "1000), as clean-fid)",
                _UNSEEDED_KID,
                "precision/recall/density/coverage: dgm-eval cuts both sets to min(10,000, N, M) images drawn from "
                "NumPy's unseeded global generator; here RandomState(--seed)'s draws, equal to dgm-eval's after "
                "np.random.seed(seed) (the numbers depend on the draw unless both sets hold the same number of "
                "images, 10,000 or fewer: the larger set is cut to the smaller one's size)",
                "precision/recall: dgm-eval (prdc's code) counts a sample inside a ball when strictly closer than "
                "the radius, the ADM evaluator (and this package) when not farther: equal except at exact ties",
                "dgm-eval's default encoder is DINOv2: ask for --metrics fd_dinov2,kd_dinov2,pr_dinov2,prdc_dinov2",
                "dgm-eval's IS scores the wrong folder (__main__.py ~L301): not reproduced; IS keeps torch-fidelity's",
            ),
        ),
    )
}


def match_record(options: Any) -> dict[str, Any] | None:
    """What ``--match`` did, for the result: the preset, the values it set, those overridden
    (``{"option": {"preset": value, "used": value}}``) and its notes; None without it.

    Example:
        >>> from inception_score.options import Options
        >>> record = match_record(Options.from_kwargs(match="stylegan", cov_divisor="n-1"))
        >>> record["overridden"]
        {'cov_divisor': {'preset': 'n', 'used': 'n-1'}}
    """
    name = getattr(options, "match", None)
    if name is None:
        return None
    preset = PRESETS[name]
    wanted = dict(preset.settings)
    if getattr(options, "ref", None) is not None:
        wanted.update(preset.with_ref)
    used = {k: getattr(options, k) for k in wanted}
    overridden = {k: {"preset": _plain(v), "used": _plain(used[k])} for k, v in wanted.items() if used[k] != v}
    return {
        "name": name,
        "matches": preset.matches,
        "settings": {k: _plain(v) for k, v in wanted.items() if k not in overridden},
        "overridden": overridden,
        "notes": list(preset.notes),
    }


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
