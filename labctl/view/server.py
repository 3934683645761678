"""Serve the live page with a Bokeh server on a thread of its own.

>>> view = LiveView.for_bench(bench)            # doctest: +SKIP
>>> print(view.start())                         # doctest: +SKIP
live view: http://127.0.0.1:40123/?token=...

Safe by default: bound to 127.0.0.1 (``host``), a free port unless ``port`` is given.
The URL carries a random token: the buttons work only in a page opened with it, and a
server bound to any other address than loopback shows nothing without it.  Browsers
may connect only from the URL's own host (Bokeh's websocket origin check).
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import socket
import threading

from labctl.core.errors import ConfigError
from labctl.view.state import LiveState

__all__ = ["LiveView", "parse_address", "URL_PREFIX"]

#: how ``labctl`` prints the page's address (tests and scripts look for it)
URL_PREFIX = "live view: "
_ANY = ("0.0.0.0", "::", "")


def parse_address(text: str | None, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT``, ``HOST`` or None -> (host, port); port 0 means any free."""
    if not text:
        return default_host, 0
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = text, "0"
    try:
        number = int(port)
    except ValueError:
        raise ConfigError(f"--view {text!r}: the port must be a number (HOST:PORT)") from None
    if not 0 <= number < 65536:
        raise ConfigError(f"--view {text!r}: port {number} is out of range")
    return host.strip("[]") or default_host, number


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class LiveView:
    """A Bokeh server showing ``state`` (a :class:`LiveState` subscribed to a RunEngine or
    a document stream), with ``controls`` (:class:`~labctl.view.controls.RunControls`)
    or without (a remote run).  ``interval_ms``: page update period, wall ms."""

    def __init__(
        self,
        state: LiveState,
        controls=None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        interval_ms: int = 500,
        token: str | None = None,
    ) -> None:
        self.state = state
        self.controls = controls
        self.host = host
        self.port = port
        self.interval_ms = interval_ms
        self.token = token or secrets.token_urlsafe(16)
        self.loopback = _is_loopback(host)
        self.sessions = 0  #: sessions opened so far
        self._pages: list = []
        self._shown = threading.Condition()
        self._server = None
        self._thread: threading.Thread | None = None

    @classmethod
    def for_bench(cls, bench, *, address: str | None = None, **kwargs) -> LiveView:
        """A view of every run of ``bench``, with its controls, subscribed to ``bench.RE``."""
        from labctl.view.controls import RunControls

        state = LiveState(path_provider=lambda: bench.last_run_path)
        controls = RunControls(bench.RE, bench.outputs_off, on_status=state.set_status)
        bench.RE.subscribe(state)
        host, port = parse_address(address)
        return cls(state, controls, host=host, port=port, **kwargs)

    @property
    def url(self) -> str:
        host = socket.gethostname() if self.host in _ANY else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/?token={self.token}"

    def _origins(self) -> list[str]:
        """Pages the websocket accepts: from the URL's host (any host for a server bound
        to every interface, where the token guards the page)."""
        hosts = {self.host, "localhost", "127.0.0.1"}
        if self.host in _ANY:
            hosts = {"*"}
        return [f"{h}:{self.port}" for h in sorted(hosts)]

    def start(self) -> str:
        """Serve (returns at once); returns the line to print: ``live view: <url>``."""
        if self.port == 0:
            self.port = _free_port(self.host)
        ready = threading.Event()
        errors: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._serve, args=(ready, errors), name="labctl-live-view", daemon=True
        )
        self._thread.start()
        ready.wait()
        if errors:
            raise ConfigError(f"live view: cannot serve on {self.host}:{self.port}: {errors[0]}")
        return URL_PREFIX + self.url

    def _serve(self, ready: threading.Event, errors: list) -> None:
        from bokeh.application import Application
        from bokeh.application.handlers.function import FunctionHandler
        from bokeh.server.server import Server
        from tornado.ioloop import IOLoop

        asyncio.set_event_loop(asyncio.new_event_loop())
        try:
            self._server = Server(
                {"/": Application(FunctionHandler(self._session))},
                io_loop=IOLoop.current(),
                address=self.host,
                port=self.port,
                allow_websocket_origin=self._origins(),
                check_unused_sessions_milliseconds=2000,
                unused_session_lifetime_milliseconds=5000,
            )
            self._server.start()
        except Exception as exc:  # an address in use, a host that does not resolve
            errors.append(exc)
            ready.set()
            return
        ready.set()
        self._server.io_loop.start()

    def _session(self, doc) -> None:
        """Build one browser session's page."""
        from bokeh.models import Div

        from labctl.view.page import LivePage

        args = doc.session_context.request.arguments if doc.session_context else {}
        given = (args.get("token") or [b""])[0].decode(errors="replace")
        allowed = secrets.compare_digest(given, self.token)
        doc.title = "labctl live view"
        if not (allowed or self.loopback):
            doc.add_root(Div(text="<h2>labctl live view</h2><p>open the URL with its token</p>"))
            return
        self.sessions += 1
        page = LivePage(self.state, self.controls, allowed=allowed, on_shown=self._on_shown)
        page.update()
        doc.add_root(page.root)
        doc.add_periodic_callback(page.update, self.interval_ms)
        doc.on_session_destroyed(lambda _context: self._forget(page))
        with self._shown:
            self._pages.append(page)

    def _on_shown(self) -> None:
        with self._shown:
            self._shown.notify_all()

    def _forget(self, page) -> None:
        with self._shown:
            if page in self._pages:
                self._pages.remove(page)
            self._shown.notify_all()

    def _all_shown(self) -> bool:
        version = self.state.version
        return all(page.version >= version for page in self._pages)

    def stop(self, linger_s: float = 3.0) -> None:
        """Stop serving, once every open page shows the latest document (at most
        ``linger_s`` wall s from now), so a page shows how the run ended."""
        server = self._server
        if server is None:
            return
        with self._shown:
            if self._shown.wait_for(self._all_shown, timeout=linger_s):
                # the last patches leave the server a moment after the update
                self._shown.wait(timeout=2 * self.interval_ms / 1000)
        self._server = None

        def _halt():
            server.stop()
            server.io_loop.stop()

        server.io_loop.add_callback(_halt)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LiveView:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
