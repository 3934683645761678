"""Where runs live: the list of data directories that ``show``, ``report``, ``export`` and
``runs`` search when given a uid, from any working directory.

The list is a small JSON file, ``{"data_dirs": [absolute paths]}``, at
``$LABCTL_CATALOG`` if set, else ``$XDG_CONFIG_HOME/labctl/catalog.json`` (default
``~/.config/labctl/catalog.json``).  ``labctl run`` and ``labctl study run`` add the data
directory they wrote to; a user can also edit the file, once, to name their lab's
directories.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["catalog_file", "known_data_dirs", "register_data_dir"]


def catalog_file() -> Path:
    """The catalog location file (module doc)."""
    env = os.environ.get("LABCTL_CATALOG")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "labctl" / "catalog.json"


def known_data_dirs() -> list[Path]:
    """The registered data directories that exist, in registration order."""
    path = catalog_file()
    try:
        dirs = json.loads(path.read_text()).get("data_dirs", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [Path(d) for d in dirs if isinstance(d, str) and Path(d).is_dir()]


def register_data_dir(data_dir: str | Path) -> None:
    """Add ``data_dir`` (made absolute) to the catalog location file; never raises for a
    file that cannot be written (the run's data are not at stake)."""
    path = catalog_file()
    entry = str(Path(data_dir).resolve())
    try:
        data = json.loads(path.read_text()) if path.exists() else {}
        if not isinstance(data, dict):
            data = {}
    except (OSError, ValueError):
        data = {}
    dirs = [d for d in data.get("data_dirs", []) if isinstance(d, str)]
    if entry in dirs:
        return
    data["data_dirs"] = [*dirs, entry]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, path)
    except OSError:
        pass
