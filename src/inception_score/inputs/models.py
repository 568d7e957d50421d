"""Models named on the command line: generators (``--generator``) and classifiers (``--classifier``).

* a path to a file saved with ``torch.jit.save`` is loaded with ``torch.jit.load`` (on the CPU);
* a path ending in ``.pt2`` (``torch.export.save``) with ``torch.export.load(path).module()``;
* ``package.module:attribute`` (or ``path/to/file.py:attribute``) is imported and the attribute
  returned as is: a sample function ``f(n)``, a generator module or a classifier.

Importing a module runs its code: that is what ``module:function`` is for, and the user chose
it. A model *file* must never run code. Errors are one line naming the spec.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..errors import InputError

__all__ = ["load_model", "load_generator"]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def load_model(spec: str, role: str = "generator") -> Callable[..., Any]:
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


def load_generator(spec: str) -> Callable[..., Any]:
    """:func:`load_model` for ``--generator``: a TorchScript or ``torch.export`` file, or ``module:function``."""
    return load_model(spec, "generator")
