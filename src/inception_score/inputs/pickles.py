"""Read a pickle of numpy arrays without ever running code from it.

``pickle.load`` calls any function the file names (``os.system``, ``builtins.exec``...): loading a
downloaded pickle is running a downloaded program. EDM2 publishes its reference statistics as
pickles (``calculate_metrics.py`` ``save_stats``: ``pickle.dump`` of ``{'num_images': N, 'fid':
{'mu', 'sigma'}, 'fd_dinov2': {'mu', 'sigma'}}``, numpy arrays in plain dicts). This unpickler
resolves only the few globals that rebuild numpy arrays (``ndarray``, ``dtype``, the
``_reconstruct`` and ``_frombuffer`` helpers and ``scalar``, under numpy 1's ``numpy.core`` and
numpy 2's ``numpy._core`` names, and ``_codecs.encode``, with which protocol 2 writes bytes); plain
containers, numbers and strings need none. Any other
global, and any persistent id, is refused with one line naming the file and the global, before
it is called. The allowed callables only allocate arrays and dtypes from bytes.

Example:
    >>> import io, pickle, numpy as np
    >>> data = pickle.dumps({"num_images": 3, "fid": {"mu": np.zeros(2)}})
    >>> safe_load(io.BytesIO(data), "stats.pkl")["fid"]["mu"].tolist()
    [0.0, 0.0]
    >>> safe_load(io.BytesIO(pickle.dumps(print)), "evil.pkl")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    inception_score.errors.InputError: evil.pkl: refused to unpickle builtins.print: only numpy arrays ...
"""

from __future__ import annotations

import codecs
import pickle
from typing import IO, Any

import numpy as np

from ..errors import InputError
from .opening import one_line

__all__ = ["safe_load", "ALLOWED_GLOBALS"]


def _numpy_core() -> Any:
    try:  # numpy >= 2
        from numpy._core import multiarray, numeric
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray, numeric  # type: ignore[no-redef]
    return multiarray, numeric


def _allowed() -> dict[tuple[str, str], Any]:
    multiarray, numeric = _numpy_core()
    out: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    out[("_codecs", "encode")] = codecs.encode  # protocol 2 writes bytes as encode(str, "latin1"): no code runs
    for core in ("numpy.core", "numpy._core"):  # files written under numpy 1 or numpy 2
        out[(f"{core}.multiarray", "_reconstruct")] = multiarray._reconstruct
        out[(f"{core}.multiarray", "scalar")] = multiarray.scalar
        out[(f"{core}.numeric", "_frombuffer")] = numeric._frombuffer
    return out


#: (module, name) pairs a pickle may name: those that rebuild numpy arrays, dtypes and scalars.
ALLOWED_GLOBALS = tuple(sorted(_allowed()))


class _ArraysOnly(pickle.Unpickler):
    def __init__(self, file: IO[bytes], name: str) -> None:
        super().__init__(file)
        self.name = name
        self.allowed = _allowed()

    def find_class(self, module: str, name: str) -> Any:
        found = self.allowed.get((module, name))
        if found is None:
            raise InputError(
                f"{self.name}: refused to unpickle {module}.{name}: only numpy arrays and plain containers are read "
                "from a pickle (it could run code)"
            )
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise InputError(f"{self.name}: refused a persistent reference in the pickle (only plain data is read)")


def safe_load(file: IO[bytes], name: str) -> Any:
    """Unpickle ``file`` (opened in binary) allowing only numpy arrays, dtypes, scalars and plain
    containers; ``name`` is how errors name the file.

    Raises:
        InputError: a global outside :data:`ALLOWED_GLOBALS` (named, never called), a persistent
            id, or a corrupt or truncated pickle.
    """
    try:
        return _ArraysOnly(file, name).load()
    except InputError:
        raise
    except Exception as exc:  # UnpicklingError, EOFError, ValueError from numpy's setstate...
        raise InputError(f"{name}: not a readable pickle ({type(exc).__name__}: {one_line(exc)})") from None
