"""Beyond one machine, on the ecosystem's own engines (install the ``remote`` extra).

- :mod:`~labctl.remote.qserver_startup`: bluesky-queueserver startup module (a bench's
  ``RE``, devices and annotated plans, ``run_protocol``); :mod:`~labctl.remote.submit`
  queues protocol files with bluesky-queueserver-api.
- :mod:`~labctl.remote.publisher` / :mod:`~labctl.remote.consumer`: documents over
  bluesky's 0MQ publisher and proxy, JSON or msgpack (never pickle), written to zarr run
  stores in another process or on another host.
- :mod:`~labctl.remote.tiled_serve`: the data directory served live by Tiled.
- :mod:`~labctl.remote.services` and :mod:`~labctl.remote.stack`: start Redis, the RE
  Manager, Tiled, a proxy and a consumer on loopback, with keys (docs/scale-out.md).
"""
