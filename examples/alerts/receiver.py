#!/usr/bin/env python3
"""A tiny receiver for examples/alerts: prints each alert the sink POSTs.

    python3 examples/alerts/receiver.py [PORT]     (default 8787)

Delivery from a sink is at least once: a partition is posted again when a
call is retried or a batch is replayed after a crash. Each document names
its batch time and partition, so the receiver drops what it has already
seen, and prints every alert once:

    alert: failed x4 (batch 1796090195000, partition 0)
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

seen = set()


class Alerts(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        document = json.loads(self.rfile.read(length))
        key = (document["batch_time_ms"], document["partition"])
        if key in seen:
            print(f"duplicate of batch {key[0]}, partition {key[1]}: dropped", flush=True)
        else:
            seen.add(key)
            for alert in document["alerts"]:
                print(
                    f"alert: {alert['word']} x{alert['count']} "
                    f"(batch {key[0]}, partition {key[1]})",
                    flush=True,
                )
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8787
    print(f"listening on http://127.0.0.1:{port}/alerts", flush=True)
    HTTPServer(("127.0.0.1", port), Alerts).serve_forever()
