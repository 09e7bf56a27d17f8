"""gunicorn settings for the REST API and dashboard (WSGI, gthread workers).

Everything comes from the environment so one file serves every node:
EMITRUN_BIND (host:port), WEB_WORKERS, WEB_THREADS, WEB_GRACEFUL_SECONDS.
"""

import os
import signal
from typing import Any

wsgi_app = "emitrun.wsgi:application"
bind = [os.environ.get("EMITRUN_BIND", "127.0.0.1:8000")]
worker_class = "gthread"
# Two processes per core, four threads each: on the 2-core reference machine this served
# 15-60 % more than 2 x 8 (one GIL per process; docs/performance.md, "Serving layout").
workers = int(os.environ.get("WEB_WORKERS", str(2 * (os.cpu_count() or 1))))
threads = int(os.environ.get("WEB_THREADS", "4"))
# Long-polls hold a thread for up to 30 s (EMITRUN_MAX_WAIT_SECONDS): a worker busy that
# long is alive, so the timeout is above it.
timeout = 60
# On SIGTERM a worker stops accepting, answers waiting long-polls empty at once (below) and
# finishes what is in flight within this many seconds.
graceful_timeout = int(os.environ.get("WEB_GRACEFUL_SECONDS", "20"))
keepalive = 5
accesslog = None  # the app writes its own access line (emitrun.access), with the request id
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
proc_name = os.environ.get("EMITRUN_NODE", "emitrun") + "-web"
# gunicorn's control socket defaults to one path per user: two nodes on one machine would
# fight over it. Nothing here uses it.
control_socket_disable = True


def post_worker_init(worker: Any) -> None:
    """Chains a drain of long-polls in front of gunicorn's own SIGTERM/SIGINT handling."""
    from jobs import wakeup

    def stop(signum: int, frame: Any) -> None:
        wakeup.drain()
        worker.handle_exit(signum, frame)

    def quit_now(signum: int, frame: Any) -> None:
        wakeup.drain()
        worker.handle_quit(signum, frame)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, quit_now)
    signal.signal(signal.SIGQUIT, quit_now)
    signal.siginterrupt(signal.SIGTERM, False)  # as gunicorn sets it: spare active requests


def child_exit(server: Any, worker: Any) -> None:
    from emitrun import metrics

    metrics.mark_process_dead(worker.pid)
