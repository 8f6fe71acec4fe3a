"""A local HTTP server that records what it receives and answers with a chosen status."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Recorder:
    def __init__(self):
        self.requests: list[dict] = []
        self.status = 200
        self.reply: bytes | None = None  # the body to answer with, instead of ok / server error
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def json_bodies(self) -> list:
        return [json.loads(r["body"]) for r in self.requests]

    def _handler(self):
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                recorder.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                self.send_response(recorder.status)
                self.end_headers()
                default = b"ok" if recorder.status < 300 else b"server error"
                self.wfile.write(default if recorder.reply is None else recorder.reply)

            def log_message(self, *args):
                pass

        return Handler

    def __enter__(self) -> "Recorder":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
