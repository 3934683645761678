"""Plan tests use the root conftest's benches; ``_bench`` is kept for module-scoped
fixtures that build their own."""

from labctl.testing import DocumentCollector as Documents
from tests.conftest import BENCHES, example_bench

__all__ = ["BENCHES", "Documents", "_bench"]


def _bench(name, tmp_path):
    return example_bench(name, tmp_path / "data")
