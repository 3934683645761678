"""Files a user writes: bench files, protocol files, and their YAML loading.

- :mod:`labctl.config.yaml_loading`: bounded YAML loading with line numbers for errors.
- :mod:`labctl.config.bench_file`: the bench file (devices, limits, safety, sample).
"""

from __future__ import annotations

from labctl._lazy import lazy_exports

__all__ = ["BenchConfig", "load_bench_config", "load_yaml"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "BenchConfig": "labctl.config.bench_file",
        "load_bench_config": "labctl.config.bench_file",
        "load_yaml": "labctl.config.yaml_loading",
    },
)
