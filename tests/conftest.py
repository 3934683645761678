"""Every test keeps the catalog location file (labctl.data.locations) in its own tmp."""

import pytest


@pytest.fixture(autouse=True)
def _catalog_location(tmp_path_factory, monkeypatch):
    path = tmp_path_factory.mktemp("catalog") / "catalog.json"
    monkeypatch.setenv("LABCTL_CATALOG", str(path))
    return path
