"""Score a generator without writing files: a sample function or an ``nn.Module`` as a :class:`Source`.

* :class:`GeneratorSource` wraps ``sample_fn(n)``, a function that returns the next ``n`` images
  (torch tensor or numpy array, in the layouts :mod:`inception_score.inputs` accepts for arrays;
  uint8, or float in the declared ``image_range``: (0, 1), (-1, 1) or (0, 255)). It is called
  for exactly the images the pipeline asks for, in order, so image i is always the i-th sample.
* :class:`ModuleGenerator` turns a generator network ``G(z)`` or ``G(z, y)`` into such a function,
  with seeded latents (normal, or scrambled Sobol as Chong & Forsyth 2020 recommend for lower
  variance) that depend on the image's index only, never on how many are drawn per call.
* :func:`generator_source` builds either from a callable or a module (the command line loads
  one with :func:`~inception_score.inputs.models.load_model`).

Floats are mapped to [0, 1] from ``image_range`` and converted to uint8 by **rounding**
``round(255 x)``, as arrays are (torch-fidelity's generator example truncates, which darkens
every pixel by half a level on average). Values outside the range by more than
1e-3 of its width, NaN and inf are refused, naming the generator, the batch and what was seen;
within that tolerance they are clamped (float rounding of ``tanh`` outputs).

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> src = GeneratorSource(lambda n: rng.uniform(-1, 1, (n, 8, 8, 3)), 5, image_range=(-1, 1))
    >>> [(b.indices.tolist(), tuple(b.images.shape)) for b in src.batches(batch_size=3)]
    [([0, 1, 2], (3, 3, 8, 8)), ([3, 4], (2, 3, 8, 8))]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..checks import check_choice, check_image_range, check_int
from ..errors import InceptionScoreError, InputError, OptionsError, a
from .arrays import images_to_uint8
from .base import Batch, ImageSource, index_ranges

__all__ = [
    "GeneratorSource",
    "ModuleGenerator",
    "generator_source",
]

LATENT_BLOCK = 1024  # normal latents are drawn in blocks of this many, each from its own seeded generator


# --------------------------------------------------------------------------- sources


class GeneratorSource(ImageSource):
    """``num_samples`` images drawn from ``sample_fn(n)``, in order, never written to disk.

    Args:
        sample_fn: returns the next ``n`` images: a tensor or array, uint8 or float in
            ``image_range``. Called with at most ``batch_size`` images per call.
        num_samples: how many images the source holds (N of the protocol).
        batch_size: most images per call of ``sample_fn`` (the generator's memory limit);
            default: the pipeline's batch size.
        image_range: (0, 1), (-1, 1) or (0, 255) for float outputs; default: the
            ``image_range`` attribute of ``sample_fn`` if it has one (a :class:`ModuleGenerator`
            does), else (0, 1).
        name: used in messages and in the result's ``sources``.

    Order: image i is always the i-th sample. Every pass (``batches``) begins with
    ``sample_fn.seek(start)`` when it exists (:class:`ModuleGenerator` has it: nothing is
    generated for nothing). Otherwise it begins with ``sample_fn.reset()`` when that exists (on
    the first pass, and whenever it must go back), and the images before ``start`` (a shard, a
    rank) are generated and thrown away: generator time, but a seeded generator's images stay
    where they belong. A plain function has neither: it is read from its current state (taken
    as sample 0), forwards only; going back is an InputError. ``sample_fn`` runs in the calling
    process (``num_workers`` is not used); images on a GPU are converted to uint8 there and
    come back to the host.
    """

    def __init__(
        self,
        sample_fn: Callable[[int], Any],
        num_samples: int,
        batch_size: int | None = None,
        image_range: tuple[float, float] | None = None,
        name: str = "generator",
    ) -> None:
        if not callable(sample_fn):
            raise InputError(f"{name}: sample_fn is a {type(sample_fn).__name__}; expected a function of n")
        num_samples = check_int(num_samples, "num_samples")
        batch_size = check_int(batch_size, "batch_size") if batch_size is not None else None
        self.sample_fn = sample_fn
        self.num_samples = int(num_samples)
        self.batch_size = batch_size
        declared = image_range if image_range is not None else getattr(sample_fn, "image_range", (0.0, 1.0))
        self.image_range = check_image_range(declared)
        self.name = name
        self._position: int | None = None  # images drawn from sample_fn so far (None: unknown)

    def __len__(self) -> int:
        return self.num_samples

    def _draw(self, n: int, first: int, where: str) -> Tensor | list[Tensor]:
        try:
            images = self.sample_fn(n)
        except (InceptionScoreError, KeyboardInterrupt, MemoryError):
            raise
        except torch.cuda.OutOfMemoryError:
            raise
        except Exception as exc:  # the generator's own failure: one line naming it, not an "internal error"
            hint = "; is --z-dim its latent size?" if isinstance(self.sample_fn, ModuleGenerator) else ""
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            text = lines[-1] if lines else ""  # TorchScript puts its traceback first and the reason last
            text = text if len(text) <= 300 else text[:300] + "..."
            raise InputError(f"{where}: the generator failed ({type(exc).__name__}: {text}){hint}") from exc
        self._position = (self._position or 0) + n
        count = n  # for what is not images at all, the conversion below names what is wrong
        if isinstance(images, (list, tuple)):
            count = len(images)
        elif isinstance(images, (np.ndarray, Tensor)) and images.ndim == 4:
            count = int(images.shape[0])
        if count != n:
            raise InputError(f"{where}: sample_fn({n}) returned {count} images; expected {n}")
        converted = images_to_uint8(images, self.image_range, where, first_index=first)
        if isinstance(converted, Tensor):
            return converted.cpu()
        return [c.cpu() for c in converted]

    def _seek(self, start: int, call: int) -> None:
        seek = getattr(self.sample_fn, "seek", None)
        if callable(seek):
            seek(start)
            self._position = start
            return
        reset = getattr(self.sample_fn, "reset", None)
        if self._position is None or start < self._position:
            if callable(reset):
                reset()
            elif self._position is not None:
                raise InputError(
                    f"{self.name}: cannot go back to image {start}: sample_fn has drawn {self._position} images "
                    f"already and has no reset() or seek(i); give it one, or build a new GeneratorSource"
                )
            self._position = 0
        while self._position < start:  # generate and discard, so that image i stays the i-th sample
            n = min(call, start - self._position)
            drawn = self.sample_fn(n)
            self._position += n
            if len(drawn) != n:
                raise InputError(f"{self.name}: sample_fn({n}) returned {len(drawn)} images; expected {n}")

    def batches(
        self, batch_size: int, num_workers: int = 0, start: int = 0, stop: int | None = None
    ) -> Iterator[Batch]:
        stop = len(self) if stop is None else stop
        if not 0 <= start <= stop <= len(self):
            raise InputError(f"{self.name}: images {start}..{stop - 1} requested, but it holds 0..{len(self) - 1}")
        call = self.batch_size or batch_size
        self._seek(start, call)
        for number, (lo, hi) in enumerate(index_ranges(start, stop, batch_size)):
            where = f"{self.name}: batch {number} (images {lo}..{hi - 1})"
            parts: list[Tensor | list[Tensor]] = [
                self._draw(min(call, hi - first), first, where) for first in range(lo, hi, call)
            ]
            yield Batch(np.arange(lo, hi, dtype=np.int64), _join(parts))


def _join(parts: list[Tensor | list[Tensor]]) -> Tensor | list[Tensor]:
    if len(parts) == 1:
        return parts[0]
    if all(isinstance(p, Tensor) for p in parts) and len({tuple(p.shape[1:]) for p in parts}) == 1:  # type: ignore[union-attr]
        return torch.cat(parts)  # type: ignore[arg-type]
    return [image for part in parts for image in part]


# --------------------------------------------------------------------------- generator networks


class ModuleGenerator:
    """``G(z)`` or ``G(z, y)`` with seeded latents, as a sample function ``gen(n) -> images``.

    Args:
        module: the generator network; called as is (put it in eval mode yourself if it should
            be), under ``torch.no_grad()``, with latents of its parameters' dtype on ``device``.
        z_dim: latent size.
        num_classes: for a conditional generator: ``module(z, y)`` with int64 class indexes
            ``y``; without ``labels``, image i gets class ``i % num_classes`` (every class
            equally often, in turn). A generator that wants one-hot labels: wrap it,
            ``lambda z, y: G(z, F.one_hot(y, C).float())``.
        labels: explicit class indexes, image i gets ``labels[i]``; asking for more images than
            labels is an InputError.
        latents: ``"normal"``: standard normal, in blocks of 1024 latents, block b drawn by a
            ``torch.Generator`` seeded from ``(seed, b)`` (a single seeded stream would not do:
            CPU ``randn`` gives different numbers for one call of n than for two calls of n/2,
            so image i would depend on the batch size). ``"sobol"``: scrambled Sobol points
            (``torch.quasirandom.SobolEngine(z_dim, scramble=True, seed=seed)``) mapped to
            normals by the inverse normal CDF, clamped away from exactly 0 and 1; they fill the
            latent space more evenly, so the score varies less between seeds (Chong & Forsyth,
            "Effectively Unbiased FID and Inception Score and where to find them", CVPR 2020).
        seed: non-negative integer seed of the latents.
        device: where the latents and labels go; the module must be there already.
        image_range: the range of the module's outputs (default (0, 1), as for every float input: a
            tanh generator, -1..1, is refused until it is declared, rather than silently misread).

    Image i is a pure function of (seed, i, latents, labels): ``gen(4); gen(6)`` gives the same
    images as ``gen(10)``, and ``seek(i)`` jumps to image i without generating the ones before.

    Example:
        >>> import torch
        >>> gen = ModuleGenerator(torch.nn.Linear(4, 3 * 2 * 2), z_dim=4, latents="sobol")
        >>> gen.latents(0, 8).shape, gen.position
        (torch.Size([8, 4]), 0)
    """

    def __init__(
        self,
        module: Callable[..., Tensor],
        z_dim: int,
        num_classes: int | None = None,
        labels: Sequence[int] | np.ndarray | Tensor | None = None,
        latents: str = "normal",
        seed: int = 0,
        device: str | torch.device = "cpu",
        image_range: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        z_dim, seed = check_int(z_dim, "z_dim"), check_int(seed, "seed", 0)
        num_classes = check_int(num_classes, "num_classes") if num_classes is not None else None
        check_choice(latents, "latents", ("normal", "sobol"))
        if latents == "sobol" and z_dim > torch.quasirandom.SobolEngine.MAXDIM:
            raise OptionsError(
                f"z_dim: got {z_dim}, but Sobol latents support at most {torch.quasirandom.SobolEngine.MAXDIM}"
            )
        self.module = module
        self.z_dim, self.seed, self.latent_kind = int(z_dim), int(seed), latents
        self.num_classes = num_classes
        self.labels = None if labels is None else np.asarray(torch.as_tensor(labels).cpu(), dtype=np.int64)
        if self.labels is not None and self.labels.ndim != 1:
            raise InputError(f"labels: expected a 1-dim sequence of class indexes, got shape {self.labels.shape}")
        self.device = torch.device(device)
        self.image_range = check_image_range(image_range)
        params = [p for p in module.parameters()] if isinstance(module, nn.Module) else []
        self.dtype = params[0].dtype if params and params[0].is_floating_point() else torch.float32
        self.position = 0
        self._block: tuple[int, Tensor] | None = None
        self._sobol = torch.quasirandom.SobolEngine(z_dim, scramble=True, seed=seed) if latents == "sobol" else None
        self._sobol_position = 0

    @property
    def conditional(self) -> bool:
        return self.labels is not None or self.num_classes is not None

    def seek(self, index: int) -> None:
        """The next call starts at image ``index``."""
        self.position = int(index)

    def reset(self) -> None:
        """The next call starts at image 0 again (the same images as the first time)."""
        self.seek(0)

    def latents(self, start: int, n: int) -> Tensor:
        """float32 n x z_dim latents of images ``start .. start + n - 1`` (on the CPU)."""
        if self._sobol is not None:
            if self._sobol_position != start:
                self._sobol.reset()
                self._sobol.fast_forward(start)
            u = self._sobol.draw(n, dtype=torch.float64)  # n x z_dim in [0, 1)
            self._sobol_position = start + n
            eps = torch.finfo(torch.float64).eps  # ndtri(0) = -inf: keep the points finite
            return torch.special.ndtri(u.clamp(eps, 1.0 - eps)).to(torch.float32)
        if n == 0:
            return torch.empty(0, self.z_dim)
        rows = []
        for block in range(start // LATENT_BLOCK, (start + n - 1) // LATENT_BLOCK + 1):
            z = self._normal_block(block)  # LATENT_BLOCK x z_dim
            lo = max(start, block * LATENT_BLOCK) - block * LATENT_BLOCK
            hi = min(start + n, (block + 1) * LATENT_BLOCK) - block * LATENT_BLOCK
            rows.append(z[lo:hi])
        return torch.cat(rows)

    def _normal_block(self, block: int) -> Tensor:
        if self._block is None or self._block[0] != block:
            key = int(np.random.SeedSequence([self.seed, block]).generate_state(1, np.uint64)[0])
            generator = torch.Generator().manual_seed(key)
            self._block = (block, torch.randn(LATENT_BLOCK, self.z_dim, generator=generator))
        return self._block[1]

    def class_labels(self, start: int, n: int) -> Tensor | None:
        """int64 class indexes of images ``start .. start + n - 1``; None for an unconditional module."""
        if self.labels is not None:
            if start + n > len(self.labels):
                raise InputError(
                    f"labels: {len(self.labels)} labels given, but images up to {start + n - 1} were asked for; "
                    f"give one label per image"
                )
            return torch.from_numpy(self.labels[start : start + n])
        if self.num_classes is not None:
            return torch.arange(start, start + n, dtype=torch.int64) % self.num_classes
        return None

    def __call__(self, n: int) -> Tensor:
        """The next ``n`` images, as the module returns them."""
        start = self.position
        z = self.latents(start, n).to(self.device, self.dtype)
        y = self.class_labels(start, n)
        # no_grad, not inference_mode: a TorchScript module that once ran with autograd fails under
        # inference_mode ("Inference tensors cannot be saved for backward"); no_grad costs the same here.
        with torch.no_grad():
            images = self.module(z) if y is None else self.module(z, y.to(self.device))
        self.position = start + n
        return images


_MODULE_OPTIONS = ("z_dim", "num_classes", "labels", "latents", "seed", "device")
_SOURCE_OPTIONS = ("batch_size", "image_range", "name")


def generator_source(obj: Any, num_samples: int, **options: Any) -> GeneratorSource:
    """A :class:`GeneratorSource` of ``num_samples`` images from a sample function or a generator module.

    ``obj``: a :class:`GeneratorSource` (returned as is when ``num_samples`` agrees), an
    ``nn.Module`` (a TorchScript module too) taking latents, wrapped in a
    :class:`ModuleGenerator` (options ``z_dim``, default ``obj.z_dim`` as StyleGAN has it,
    ``num_classes``, ``labels``, ``latents``, ``seed``, ``device``), or any other callable
    ``f(n) -> images``. Options ``batch_size``, ``image_range``, ``name`` go to the source.

    Example:
        >>> import torch
        >>> src = generator_source(torch.nn.Linear(8, 3 * 4 * 4), 10, z_dim=8, image_range=(-1, 1))
        >>> len(src), src.image_range
        (10, (-1.0, 1.0))
    """
    known = _MODULE_OPTIONS + _SOURCE_OPTIONS
    for key in options:
        if key not in known:
            raise OptionsError(f"unknown generator option {key!r}; known options: {', '.join(known)}")
    source_options = {k: v for k, v in options.items() if k in _SOURCE_OPTIONS}
    module_options = {k: v for k, v in options.items() if k in _MODULE_OPTIONS}
    if isinstance(obj, GeneratorSource):
        if len(obj) != num_samples or options:
            raise OptionsError("generator: got a GeneratorSource; pass it alone, not with other num_samples or options")
        return obj
    if isinstance(obj, nn.Module):
        z_dim = module_options.pop("z_dim", getattr(obj, "z_dim", None))
        if z_dim is None:
            raise InputError(
                f"generator: a {type(obj).__name__} module needs z_dim (its latent size), and it has no z_dim attribute"
            )
        image_range = source_options.pop("image_range", (0.0, 1.0))  # the one default of every float input
        sample_fn: Callable[[int], Any] = ModuleGenerator(obj, int(z_dim), image_range=image_range, **module_options)
        source_options.setdefault("name", f"generator {type(obj).__name__}")
    elif callable(obj):
        if module_options:
            raise OptionsError(
                f"generator: options {', '.join(module_options)} apply to nn.Module generators; "
                f"got {a(type(obj).__name__)}, which is called as f(n)"
            )
        sample_fn = obj
        source_options.setdefault("name", f"generator {getattr(obj, '__name__', type(obj).__name__)}")
    else:
        raise InputError(f"generator: got {a(type(obj).__name__)}; expected a function of n or an nn.Module")
    return GeneratorSource(sample_fn, num_samples, **source_options)
