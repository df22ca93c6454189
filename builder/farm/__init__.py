"""A build farm on Ray: each profile built on a node that can serve it, returned as a bundle, verified, published.

Module map: ``routing`` (pure: profile -> the Ray resources that route it), ``cluster`` (join a token-protected
cluster, list its nodes), ``node`` (what runs on a worker node: facts, build, bundle bytes), ``receive``
(verify a returned bundle as untrusted and publish it centrally), ``progress`` (live lines, summary table),
``run`` (the driver: route, short-circuit, submit, retry, cancel), ``commands`` (the ``farm`` subcommand).
``ray`` is imported lazily, only by ``cluster``, ``node`` and ``run``: the single-host path never needs it.
See docs/farm.md.
"""
