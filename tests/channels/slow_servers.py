"""Servers on 127.0.0.1 that answer too slowly: one that drips its reply a byte at a time and
one that never answers. Each records how much it sent and whether the client went away."""

from __future__ import annotations

import select
import socket
import threading


class SlowServer:
    def __init__(self, reply: bytes, interval: float, read_request: bool) -> None:
        """`reply` dripped one byte per `interval` seconds (b"": never answer), after reading
        one HTTP request when `read_request` (an SMTP server speaks first)."""
        self.reply, self.interval, self.read_request = reply, interval, read_request
        self.sent = 0
        self.gone = threading.Event()  # the client closed or cut the connection
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.listener.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return  # closed before anyone connected
        with conn:
            if self.read_request:
                self._read_http_request(conn)
            for byte in self.reply:
                if self._client_left(conn, self.interval):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    self.gone.set()
                    return
                self.sent += 1
            while not self._client_left(conn, 0.05):
                pass

    def _client_left(self, conn: socket.socket, wait: float) -> bool:
        readable, _, _ = select.select([conn], [], [], wait)
        if readable:
            try:
                data = conn.recv(4096)
            except OSError:
                data = b""
            if not data:
                self.gone.set()
                return True
        return False

    @staticmethod
    def _read_http_request(conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            chunk = conn.recv(4096)
            if not chunk:
                return
            body += chunk

    def close(self) -> None:
        self.listener.close()
        self.thread.join(timeout=5)

