"""The webhook receiver of the load benchmark (benchmarks/bench_load.py), run as a process of its own.

`python -m benchmarks.load_receiver PORT JOURNAL` answers every POST on 127.0.0.1:PORT with 200 (HTTP/1.1
keep-alive) and appends "<alert id> <arrival wall time>" to JOURNAL for each body that carries an alert id.

Why a process of its own: a deployed webhook endpoint does not share an interpreter with the load generator.
Run as a thread of the benchmark, it shared one GIL with the four MLLP sender threads and the thread feeding
them, and the notifier's share of the latency (alert record -> webhook) ends at this receiver's clock. Over the
first two minutes of the 10-minute load (its admission burst: ~120 alerts/s), two runs with the receiver
in-process gave an ACK -> webhook p99 of 366.5 and 67.6 ms, two with it in its own process 75.6 and 65.6 ms:
too few runs to blame the slow one on the harness, but what is measured no longer includes the harness's GIL.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO


class _Server(ThreadingHTTPServer):
    # A webhook endpoint as deployed (nginx, uvicorn) queues 100+ pending connections; the stdlib default of 5
    # drops SYNs when the notifier opens a burst of connections, and each dropped SYN costs a 1 s retransmit.
    request_queue_size = 128
    daemon_threads = True


def serve(port: int, journal: TextIO) -> None:
    """Answer POSTs on 127.0.0.1:`port` until the process is killed, journaling each alert's arrival."""
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args: Any) -> None:
            return None

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            arrived = time.time()
            try:
                alert_id = json.loads(body)["alert_id"]
            except (ValueError, KeyError, TypeError):
                alert_id = None
            if alert_id is not None:
                with lock:
                    journal.write(f"{alert_id} {arrived:.6f}\n")
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    _Server(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    with open(sys.argv[2], "a", buffering=1, encoding="utf-8") as out:
        serve(int(sys.argv[1]), out)
