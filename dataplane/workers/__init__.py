"""The agw proxy's worker pool.

Decision: one ADS stream per proxy process, held by the parent, which feeds N worker
processes. Each worker runs its own event loop and ``Proxy`` and binds its own listener
sockets with SO_REUSEPORT, so the kernel spreads connections over the workers.

Why one stream and not one per worker:

- The control plane sees one proxy per process, as with Envoy (one stream, N threads):
  ``/debug/syncz``, sync status and metrics count proxies, not workers, and a NACK is
  reported once, not N times.
- Updates stay consistent across workers: the parent validates (compiles) each update once,
  ACKs it only when every worker applied it, and NACKs it for all of them; N independent
  streams could each be at a different version, and a worker that fails a bind would NACK a
  version its siblings ACKed.
- Warming, subscription and reconnect logic lives in one place, and a control plane that
  restarts gets one reconnect per proxy instead of N.
- Workers stay free of gRPC: they never fork from a gRPC process (they are fresh
  interpreters started with ``python -m dataplane.workers.worker``), use less memory, and
  run uvloop without depending on how well grpc.aio cooperates with it.

Costs accepted: a config crosses a socketpair once per worker (one serialized
``DeltaDiscoveryResponse`` of the bytes received, no re-encoding per worker) and each worker
compiles it again (the compiled config is live Python objects, rebuilt where it runs). The
parent's event loop runs gRPC, the admin server and the pool, never requests.

Parent and workers speak length-prefixed frames (``channel``): CONFIG and DRAIN down;
HELLO, APPLIED, FAILED, STATS and DRAINED up. The parent (``pool.WorkerPool``) restarts a
worker that dies, with backoff, and hands the replacement the current config at once;
counters of exited workers are kept so totals never go backwards (``counters``). On SIGTERM
the parent sends DRAIN: workers stop accepting, finish in-flight exchanges within the drain
timeout, report their last counters and exit.

Listener port 0 is meaningless across workers (each would bind its own ephemeral port); the
translator always emits real ports.
"""
