"""A real HTTP server on 127.0.0.1 that records every request and answers as told."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class LocalHTTPServer:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.status = 200
        self.reply = b'{"ok": true}'
        self.reply_headers: dict[str, str] = {}
        self.delay = 0.0
        self.respond: Callable[[Request], bytes] | None = None  # a reply made from the request
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                request = Request("POST", self.path, dict(self.headers.items()), body)
                owner.requests.append(request)
                time.sleep(owner.delay)
                reply = owner.respond(request) if owner.respond else owner.reply
                self.send_response(owner.status)
                for key, value in owner.reply_headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None  # a client that timed out is expected
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def last(self) -> Request:
        assert self.requests, "the server received no request"
        return self.requests[-1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
