"""A bench: the instrument kinds, the driver plugins, the simulated twin and ``Bench``.

- :mod:`labctl.bench.plugins`: which driver, device and emulator serve a bench entry
  (entry points, import paths).
- :mod:`labctl.bench.twin`: the simulated twin (sample model and emulators).
- :mod:`labctl.bench.bench`: :class:`Bench`, a bench file connected and ready.
"""

from __future__ import annotations

from labctl._lazy import lazy_exports

__all__ = ["Bench"]

__getattr__, __dir__ = lazy_exports(__name__, {"Bench": "labctl.bench.bench"})
