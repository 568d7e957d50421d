"""Models named on the command line: generators (``--generator``) and classifiers (``--classifier``).

* a path to a **TorchScript** file (``torch.jit.save``) is loaded with ``torch.jit.load`` (on the
  CPU);
* ``package.module:attribute`` (or ``path/to/file.py:attribute``) is imported and the attribute
  returned as is: a sample function ``f(n)``, a generator module or a classifier.

**What runs code, by design, and what never does.** ``module:function`` imports a module, and
importing runs its code: that is what it is for, the user's own code, named by the user. A model
*file* must never run code when it is loaded, since model files are passed around:

* TorchScript files are read by torch's C++ importer: their pickles can only build tensors and
  the TorchScript classes the archive defines, never Python objects (a pickled ``os.system`` is
  refused by torch: "Unknown type name 'posix.system'"), and their code is TorchScript, run by
  the TorchScript interpreter, which cannot reach Python (``__import__`` is "undefined value";
  both tested). torch's own documentation still asks not to load TorchScript of unknown origin:
  the importer is native code and has had memory-safety bugs.
* ``torch.export`` archives (``.pt2``, whatever the file is named: recognised by content) are
  **refused**: ``torch.export.load`` runs code stored in the file in two ways, both reproduced
  here: it falls back to ``torch.load(weights_only=False)``, i.e. plain unpickling, for the
  example inputs, pickled weights and constants, and it evaluates the graph's symbolic shape
  expressions (JSON strings) with ``sympy.sympify``, which calls Python's ``eval``. Screening the
  pickles would leave the second; torch has no safe loader for the format. Users who trust their
  file can load it in their own module (``G = torch.export.load("g.pt2").module()``) and pass
  ``module:G``: code they chose to run.

Errors are one line naming the spec.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..errors import InputError
from .archives import ARCHIVE_READ_ERRORS
from .opening import one_line, open_regular, regular_file_problem

__all__ = ["load_model", "load_generator"]


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {one_line(exc)}"


def is_torch_export(f: Any) -> bool:
    """Whether the open file ``f`` is a ``torch.export`` archive (by its members, not its name)."""
    try:
        f.seek(0)
        with zipfile.ZipFile(f) as zf:
            names = zf.namelist()
    except ARCHIVE_READ_ERRORS:
        return False
    finally:
        f.seek(0)
    markers = ("archive_format", "serialized_exported_program.json", "/models/model.json")
    return any(n == m or n.endswith("/" + m.lstrip("/")) for n in names for m in markers)


def load_model(spec: str, role: str = "generator") -> Callable[..., Any]:
    """A generator or classifier from the command line: a TorchScript file, or ``module:function``.

    * a path to a file saved with ``torch.jit.save`` is loaded with ``torch.jit.load`` (on the
      CPU): a generator network taking latents (give ``z_dim`` to :func:`generator_source`) or a
      classifier; a ``torch.export`` archive (``.pt2``) is refused, since loading one can run
      code stored in it (module docstring);
    * ``package.module:attribute`` (or ``path/to/file.py:attribute``) is imported and the
      attribute returned as is: a sample function ``f(n)``, a generator module or a classifier.

    Only the second runs code, the code the user named; nothing is downloaded. Errors are one line.

    Example:
        >>> load_generator("no_such_module_here:sample")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        inception_score.errors.InputError: no_such_module_here:sample: cannot import module ...
    """
    path = Path(spec)
    if os.path.lexists(spec) and not path.is_dir():
        return _load_file(spec, role)
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


def _load_file(spec: str, role: str) -> Callable[..., Any]:
    """A TorchScript file; a torch.export archive is refused (module docstring)."""
    save = "torch.jit.save(torch.jit.script(model), path)"
    with open_regular(spec, spec, f"a TorchScript file ({save}) or module:function") as f:
        if spec.lower().endswith(".pt2") or is_torch_export(f):
            raise InputError(
                f"{spec}: torch.export archives are refused: loading one can run code stored in the file "
                f"(torch.export.load unpickles it and evaluates its shape expressions); save the {role} with "
                f"{save}, or load a file you trust in your own module and pass module:attribute"
            )
        try:
            with warnings.catch_warnings():  # "deprecated, switch to torch.export": the format refused above
                warnings.filterwarnings("ignore", message=".*torch.jit.load.* is deprecated", category=FutureWarning)
                return torch.jit.load(f, map_location="cpu")  # type: ignore[no-any-return]
        except (RuntimeError, ValueError, OSError) as exc:
            raise InputError(f"{spec}: not a TorchScript file ({_one_line(exc)}); save one with {save}") from None


def _import(spec: str, module_name: str) -> Any:
    try:
        if module_name.endswith(".py"):
            file = Path(module_name)
            problem = regular_file_problem(file)
            if problem:
                raise InputError(f"{spec}: {module_name}: {problem}; expected a Python file")
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
