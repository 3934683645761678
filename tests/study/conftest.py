"""Example studies copied (with the benches and protocols they name) into a tmp tree."""

import shutil
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def copy_examples(root: Path) -> Path:
    for sub in ("benches", "protocols", "studies"):
        shutil.copytree(EXAMPLES / sub, root / sub, ignore=shutil.ignore_patterns("data"))
    return root / "studies"


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    return copy_examples(tmp_path_factory.mktemp("examples"))
