"""Score a generator without writing files: a sample function or an ``nn.Module`` as a :class:`Source`.

* :class:`GeneratorSource` wraps ``sample_fn(n)``, a function that returns the next ``n`` images
  (torch tensor or numpy array, in the layouts :mod:`inception_score.inputs` accepts for arrays;
  uint8, or float in the declared ``image_range``: (0, 1), (-1, 1) or (0, 255)). It is called
  for exactly the images the pipeline asks for, in order, so image i is always the i-th sample.
* :class:`ModuleGenerator` turns a generator network ``G(z)`` or ``G(z, y)`` into such a function,
  with seeded latents (normal, or scrambled Sobol as Chong & Forsyth 2020 recommend for lower
  variance) that depend on the image's index only, never on how many are drawn per call.
* :func:`generator_source` builds either from a callable or a module; :func:`load_generator`
  reads a TorchScript file or imports ``module:function`` (for the command line).

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

import importlib
import importlib.util
import os
import sys
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .errors import InputError, OptionsError
from .inputs import Batch, Source, _as_uint8_nchw, _check_array, _first_bad, _ranges

__all__ = [
    "IMAGE_RANGES",
    "GeneratorSource",
    "ModuleGenerator",
    "generator_source",
    "load_generator",
    "images_to_uint8",
]

IMAGE_RANGES = ((0.0, 1.0), (-1.0, 1.0), (0.0, 255.0))
RANGE_TOLERANCE = 1e-3  # relative to the width of the range: tanh outputs may overshoot by float rounding
LATENT_BLOCK = 1024  # normal latents are drawn in blocks of this many, each from its own seeded generator


# --------------------------------------------------------------------------- conversion


def check_image_range(image_range: Any, name: str = "image_range") -> tuple[float, float] | None:
    """Validate an ``image_range`` option: one of :data:`IMAGE_RANGES`, or None (uint8 only)."""
    if image_range is None:
        return None
    accepted = ", ".join(f"({lo:g}, {hi:g})" for lo, hi in IMAGE_RANGES)
    try:
        lo, hi = (float(v) for v in image_range)
    except (TypeError, ValueError):
        raise OptionsError(f"{name}: got {image_range!r}, expected one of {accepted}") from None
    if (lo, hi) not in IMAGE_RANGES:
        raise OptionsError(f"{name}: got {image_range!r}, expected one of {accepted}")
    return lo, hi


def _range_hint(lo: float, hi: float, seen_lo: float, seen_hi: float) -> str:
    if seen_lo >= -1.0 - 1e-3 and seen_hi <= 1.0 + 1e-3 and seen_lo < 0 and lo >= 0:
        return "; outputs in [-1, 1] (tanh)? declare image_range=(-1, 1)"
    if seen_lo >= 0 and seen_hi > 1.5 and hi <= 1.0:
        return "; outputs in [0, 255]? declare image_range=(0, 255)"
    return ""


def _float_to_uint8_scale(t: Tensor, image_range: tuple[float, float], name: str, first_index: int) -> Tensor:
    """Float images -> float32 in [0, 1] (or uint8 for (0, 255)), refusing NaN/inf and values out of range."""
    lo, hi = image_range
    if not bool(torch.isfinite(t).all()):
        raise InputError(f"{name}: contains NaN or inf (image {first_index + _first_bad(t)})")
    seen_lo, seen_hi = (float(v) for v in torch.aminmax(t))
    tol = RANGE_TOLERANCE * (hi - lo)
    if seen_lo < lo - tol or seen_hi > hi + tol:
        raise InputError(
            f"{name}: float values must lie in [{lo:g}, {hi:g}] (image_range), got values in "
            f"[{seen_lo:g}, {seen_hi:g}]{_range_hint(lo, hi, seen_lo, seen_hi)}"
        )
    t = t.to(torch.float32)
    if (lo, hi) == (0.0, 255.0):
        # Already on the uint8 scale: round(x), not round(255 * (x / 255)) with its extra float rounding.
        return t.round().clamp_(0, 255).to(torch.uint8)
    # Clamp: values within the tolerance band are float noise at the ends of the range.
    return ((t - lo) / (hi - lo)).clamp_(0.0, 1.0)


def images_to_uint8(
    images: Any, image_range: tuple[float, float] | None, name: str, first_index: int = 0
) -> Tensor | list[Tensor]:
    """Images as a generator or a training loop hands them over -> uint8 N x 3 x H x W (on their device).

    ``images``: a 4-dim tensor or array (layouts as for arrays, see :mod:`inception_score.inputs`),
    or a list of 3-dim images (returned as a list when their sizes differ). uint8 is taken as is;
    floats are mapped from ``image_range`` and rounded (None: floats are refused). ``name`` starts
    every error message; ``first_index`` is the index of the first image, for messages.
    """
    if isinstance(images, (list, tuple)):
        if not images:
            raise InputError(f"{name}: got an empty list of images")
        out = []
        for k, image in enumerate(images):
            if not isinstance(image, (np.ndarray, Tensor)) or image.ndim != 3:
                shape = tuple(image.shape) if hasattr(image, "shape") else type(image).__name__
                raise InputError(f"{name}: list item {k} is {shape}; expected one image, 3 x H x W or H x W x 3")
            one = images_to_uint8(image[None], image_range, name, first_index + k)
            assert isinstance(one, Tensor)
            out.append(one[0])
        return torch.stack(out) if all(o.shape == out[0].shape for o in out) else out
    if not isinstance(images, (np.ndarray, Tensor)):
        raise InputError(f"{name}: got a {type(images).__name__}; expected a torch tensor or numpy array of images")
    is_torch = isinstance(images, Tensor)
    is_float = images.dtype.is_floating_point if is_torch else np.issubdtype(images.dtype, np.floating)
    is_uint8 = images.dtype == (torch.uint8 if is_torch else np.uint8)
    if not is_uint8 and (not is_float or image_range is None):
        accepted = "uint8" if image_range is None else f"uint8, or float in [{image_range[0]:g}, {image_range[1]:g}]"
        hint = "; for float images pass image_range=(0, 1), (-1, 1) or (0, 255)" if image_range is None else ""
        raise InputError(f"{name}: expected {accepted}, got dtype {images.dtype}{hint}")
    layout = _check_array(images, name)
    t = images.detach() if is_torch else torch.as_tensor(np.ascontiguousarray(images))
    if is_float:
        assert image_range is not None
        t = _float_to_uint8_scale(t, image_range, name, first_index)
    return _as_uint8_nchw(t, layout)


# --------------------------------------------------------------------------- sources


class GeneratorSource(Source):
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
        for option, value, minimum in (("num_samples", num_samples, 1), ("batch_size", batch_size, 1)):
            if value is None and option == "batch_size":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
                raise OptionsError(f"{option}: got {value!r}, expected a positive integer")
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
        images = self.sample_fn(n)
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
        for number, (lo, hi) in enumerate(_ranges(start, stop, batch_size)):
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
        image_range: the range of the module's outputs (default (-1, 1), tanh).

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
        image_range: tuple[float, float] = (-1.0, 1.0),
    ) -> None:
        for option, value in (("z_dim", z_dim), ("num_classes", num_classes), ("seed", seed)):
            if value is None and option == "num_classes":
                continue
            minimum = 0 if option == "seed" else 1
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
                kind = "a non-negative" if minimum == 0 else "a positive"
                raise OptionsError(f"{option}: got {value!r}, expected {kind} integer")
        if latents not in ("normal", "sobol"):
            raise OptionsError(f"latents: got {latents!r}, expected 'normal' or 'sobol'")
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
        image_range = source_options.pop("image_range", (-1.0, 1.0))
        sample_fn: Callable[[int], Any] = ModuleGenerator(obj, int(z_dim), image_range=image_range, **module_options)
        source_options.setdefault("name", f"generator {type(obj).__name__}")
    elif callable(obj):
        if module_options:
            raise OptionsError(
                f"generator: options {', '.join(module_options)} apply to nn.Module generators; "
                f"got a {type(obj).__name__}, which is called as f(n)"
            )
        sample_fn = obj
        source_options.setdefault("name", f"generator {getattr(obj, '__name__', type(obj).__name__)}")
    else:
        raise InputError(f"generator: got a {type(obj).__name__}; expected a function of n or an nn.Module")
    return GeneratorSource(sample_fn, num_samples, **source_options)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def load_generator(spec: str) -> Callable[..., Any]:
    """A generator from the command line: a TorchScript or ``torch.export`` file, or ``module:function``.

    * a path to a file saved with ``torch.jit.save`` is loaded with ``torch.jit.load`` (on the
      CPU), one ending in ``.pt2`` (``torch.export.save``; TorchScript is deprecated in recent
      torch) with ``torch.export.load(path).module()``: a generator network taking latents
      (give ``z_dim`` to :func:`generator_source`);
    * ``package.module:attribute`` (or ``path/to/file.py:attribute``) is imported and the
      attribute returned as is: a sample function ``f(n)`` or a generator module.

    Both run code that the user chose; nothing is downloaded. Errors are one line.

    Example:
        >>> load_generator("no_such_module_here:sample")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        inception_score.errors.InputError: no_such_module_here:sample: cannot import module ...
    """
    path = Path(spec)
    if path.is_file() and path.suffix.lower() == ".pt2":
        try:
            return torch.export.load(str(path)).module()  # type: ignore[no-any-return]
        except (RuntimeError, ValueError, OSError, zipfile.BadZipFile) as exc:
            hint = "save one with torch.export.save(torch.export.export(G, (z,)), path)"
            raise InputError(f"{spec}: not a torch.export archive ({_one_line(exc)}); {hint}") from None
    if path.is_file():
        try:
            return torch.jit.load(str(path), map_location="cpu")
        except (RuntimeError, ValueError, OSError) as exc:
            hint = "save one with torch.jit.save(torch.jit.script(G), path)"
            raise InputError(f"{spec}: not a TorchScript file ({_one_line(exc)}); {hint}") from None
    if path.is_dir():
        raise InputError(f"{spec}: is a folder; expected a TorchScript file or module:function")
    module_name, sep, attribute = spec.rpartition(":")
    if not sep or not module_name or not attribute:
        looks_like_path = os.sep in spec or "/" in spec or path.suffix.lower() in (".pt", ".pt2", ".pth", ".ts", ".zip")
        if looks_like_path:
            raise InputError(f"{spec}: no such file")
        raise InputError(f"{spec}: expected a TorchScript file (no such file here) or module:function")
    module = _import(spec, module_name)
    obj: Any = module
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise InputError(f"{spec}: module {module_name!r} has no attribute {attribute!r}") from None
    if not callable(obj):
        raise InputError(f"{spec}: {attribute} is a {type(obj).__name__}; expected a function of n or an nn.Module")
    return obj  # type: ignore[no-any-return]


def _import(spec: str, module_name: str) -> Any:
    try:
        if module_name.endswith(".py"):
            file = Path(module_name)
            if not file.is_file():
                raise InputError(f"{spec}: no such file {module_name}")
            loader_spec = importlib.util.spec_from_file_location(file.stem, file)
            assert loader_spec is not None and loader_spec.loader is not None
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules.setdefault(file.stem, module)
            loader_spec.loader.exec_module(module)
            return module
        return importlib.import_module(module_name)
    except InputError:
        raise
    except Exception as exc:  # an import runs arbitrary code: any failure is the user's module's
        raise InputError(f"{spec}: cannot import module {module_name!r} ({_one_line(exc)})") from None
