"""What the score is made of, and warnings where the number is known to mislead.

From the per-split sums (:class:`~inception_score.score.ISAccumulator`) alone:

* ln IS = H[E p(y|x)] - E H[p(y|x)], so IS = diversity x sharpness with
  ``diversity = exp(H(marginal))`` (the effective number of classes the set covers) and
  ``sharpness = exp(-E H(y|x))`` (the reciprocal of the effective number of classes each image
  is spread over), for all images together and per split;
* the marginal over the 1008 outputs with the class names of the 2015 graph
  (``data/inception_2015_classes.tsv``, from the label map in ``inception-2015-12-05.tgz``,
  Apache 2.0; see ``data/NOTICE.md``), how many classes hold real mass, which are never the
  top-1 class;
* warnings: fewer than 50,000 images (IS grows with N), splits of fewer than 5,000 images,
  and split marginals that differ far more than random splits would (class-ordered input under a
  file-order protocol: one guided-diffusion user got 62 with 5k chunks and 298 with one split).

Example:
    >>> class_names()[449]
    'tench, Tinca tinca'
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
import torch

from .score import ISAccumulator

__all__ = ["class_names", "describe", "REFERENCE_N"]

REFERENCE_N = 50_000  # the convention of published numbers
SPLIT_MIN = 5_000  # the split size of the published protocols (50k / 10)
MASS_THRESHOLD = 1e-4  # a class "holds mass" when q_y > 1/10 of the uniform 1/1000


@lru_cache(maxsize=1)
def class_names() -> list[str]:
    """Human-readable names of the 1008 outputs, in output order (0 and 1001..1007: 'unused')."""
    text = resources.files(__package__).joinpath("data/inception_2015_classes.tsv").read_text(encoding="utf-8")
    rows = [line.split("\t") for line in text.splitlines() if line.strip()]
    return [label for _, _, label in sorted(rows, key=lambda r: int(r[0]))]


def _mixing_gap(acc: ISAccumulator) -> float:
    """Jensen-Shannon divergence of the split marginals (nats): H(pooled) - weighted mean H(split).

    0 when every split sees the same classes; ln S when the splits share none.
    """
    n, sum_p = acc.count.cpu(), acc.sum_p.cpu()
    h_all = torch.special.entr(sum_p.sum(0) / n.sum()).sum()
    h_split = torch.special.entr(sum_p / n[:, None]).sum(-1)
    return float(h_all - (h_split * n).sum() / n.sum())


def describe(acc: ISAccumulator, protocol: str, named: bool, top: int = 10) -> dict[str, object]:
    """The diagnostics fields of the result, and the warnings they imply."""
    pooled = acc.pooled()
    sharp, div = pooled.split_terms()
    split_sharp, split_div = acc.split_terms()
    n = float(pooled.count[0])
    q = (pooled.sum_p[0] / n).cpu().numpy()
    hits = pooled.top1_hist[0].cpu().numpy()
    names = class_names() if named and len(q) == 1008 else None
    real = range(1, 1001) if names else range(len(q))  # 0 and 1001..1007 are not classes

    order = np.argsort(-q)[:top]
    top_classes = [
        {"index": int(i), "name": names[i] if names else str(i), "probability": float(q[i]), "top1_count": int(hits[i])}
        for i in order
    ]
    missing = [i for i in real if hits[i] == 0]
    fields: dict[str, object] = {
        "sharpness": float(sharp[0]),
        "diversity": float(div[0]),
        "inception_score_one_split": float(sharp[0] * div[0]),
        "split_sharpness": [float(v) for v in split_sharp],
        "split_diversity": [float(v) for v in split_div],
        "num_effective_classes": float(div[0]),
        "num_classes_with_mass": int(sum(q[i] > MASS_THRESHOLD for i in real)),
        "num_classes_top1": int(sum(hits[i] > 0 for i in real)),
        "num_classes_never_top1": len(missing),
        "classes_never_top1": [names[i] if names else str(i) for i in missing[:20]],
        "mean_top1_confidence": float(pooled.sum_top1[0] / n),
        "top_classes": top_classes,
    }

    warnings: list[str] = []
    if n < REFERENCE_N:
        warnings.append(
            f"{int(n)} images: IS grows with the number of images, so compare only with scores on the same N "
            f"(published numbers use {REFERENCE_N:,}); see is_infinity for an N-free estimate"
        )
    sizes = acc.count.cpu()
    if acc.num_splits > 1 and float(sizes.min()) < SPLIT_MIN:
        span = f"{int(sizes.min())}" if sizes.min() == sizes.max() else f"{int(sizes.min())} to {int(sizes.max())}"
        warnings.append(
            f"splits of {span} images: the published protocols use {SPLIT_MIN:,} per split, and smaller splits "
            f"score lower"
        )
    if acc.num_splits > 1 and protocol != "torch-fidelity":
        gap = _mixing_gap(acc)
        chance = (acc.num_splits - 1) * (float(div[0]) - 1) / (2 * n)  # expected gap of random splits
        if gap > 0.1 and gap > 5 * chance:
            warnings.append(
                f"the splits see very different classes (marginal entropy gap {gap:.2f} nats, random splits "
                f"~{chance:.2f}): the input looks ordered by class, and protocol {protocol!r} splits in file order, "
                f"so the mean over splits is misleading; shuffle the input or use --protocol torch-fidelity"
            )
    fields["diagnostic_warnings"] = warnings
    return fields
