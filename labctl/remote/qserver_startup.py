"""bluesky-queueserver startup module: ``start-re-manager --startup-module
labctl.remote.qserver_startup`` with ``LABCTL_BENCH`` naming the bench file.

The RE Worker imports this module and takes its namespace: ``RE`` (the bench's
RunEngine), the bench's devices and labctl's plans with parameter annotations.  See
:mod:`labctl.remote.qserver_env` for the environment variables and the safety notes.
Imported elsewhere (an IPython session checking the environment), it loads the bench
when ``LABCTL_BENCH`` is set and does nothing otherwise.
"""

import os as _os

from labctl.remote.qserver_env import build_namespace as _build_namespace


def _in_re_worker() -> bool:
    try:
        from bluesky_queueserver import is_re_worker_active
    except ImportError:
        return False
    return is_re_worker_active()


if _in_re_worker() or _os.environ.get("LABCTL_BENCH"):
    globals().update(_build_namespace())
