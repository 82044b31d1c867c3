"""Keep numpy's OpenBLAS to one thread in a face process; the face code splits work itself.

Why: OpenBLAS splits every matrix product across its threads and makes them wait for each
other. On the 2-core dev machine, with another process busy, that made the network 2-3x slower
(24 faces: 590 ms instead of 270 ms single-threaded) and the 100,000-embedding distance product
3-4x slower (10 ms instead of 2.8 ms). Splitting the faces of a photo across two Python threads
instead (numpy releases the GIL in its loops, see :mod:`rollcall.face.encode`) gave 140-160 ms for
the same 24 faces, and degrades gracefully when a core is taken.

How: OpenBLAS reads ``OPENBLAS_NUM_THREADS`` only when it loads, usually before this code runs;
at run time the same setting is its C function ``openblas_set_num_threads``, which ctypes finds
in the already-loaded library (numpy's wheels bundle OpenBLAS with prefixed names). If the
operator set ``OPENBLAS_NUM_THREADS``, or numpy uses another BLAS, nothing is changed.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

_SETTERS = ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_", "openblas_set_num_threads")


def limit_blas_threads(threads: int = 1) -> bool:
    """Set the loaded OpenBLAS's thread count; True when done."""
    if "OPENBLAS_NUM_THREADS" in os.environ:
        return False
    import numpy  # noqa: F401  # loads OpenBLAS, so that it is in the process's map

    for library in _loaded_openblas():
        try:
            handle = ctypes.CDLL(str(library))
        except OSError:
            continue
        for name in _SETTERS:
            setter = getattr(handle, name, None)
            if setter is not None:
                setter(ctypes.c_int(threads))
                return True
    return False


def _loaded_openblas() -> list[Path]:
    maps = Path("/proc/self/maps")
    if not maps.is_file():
        return []
    paths = {
        line.split(maxsplit=5)[-1] for line in maps.read_text().splitlines() if "openblas" in line.lower()
    }
    return sorted(Path(p) for p in paths if p.startswith("/") and ".so" in p)
