"""A tiny real SMTP server on 127.0.0.1 (the stdlib `smtpd` is gone since Python 3.12).

It speaks EHLO/HELO, AUTH PLAIN, MAIL FROM, RCPT TO, DATA, RSET, NOOP and QUIT, keeps every
accepted message, and offers no STARTTLS. A failed login echoes the client's AUTH line back, as a
careless server might, so tests can check that the channel does not pass it on.
"""

from __future__ import annotations

import base64
import email
import email.policy
import socketserver
import threading
from dataclasses import dataclass
from email.message import EmailMessage


@dataclass
class Received:
    mail_from: str
    rcpt_to: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)


def _address(argument: str) -> str:
    return argument.split(":", 1)[1].strip().split()[0].strip("<>")


class _Session(socketserver.StreamRequestHandler):
    server: LocalSMTPServer

    def say(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self.say("220 localhost test SMTP")
        sender, recipients = "", []
        while line := self.rfile.readline():
            command = line.decode("utf-8", "replace").rstrip("\r\n")
            verb = command[:4].upper()
            if verb in self.server.replies:  # a scripted refusal instead of the usual answer
                self.say(self.server.replies[verb])
            elif verb == "EHLO":
                self.say("250-localhost")
                self.say("250-AUTH PLAIN")
                self.say("250 8BITMIME")
            elif verb == "HELO":
                self.say("250 localhost")
            elif verb == "AUTH":
                parts = command.split()
                token = parts[2] if len(parts) > 2 else ""
                _, user, password = base64.b64decode(token).decode().split("\0")
                if (user, password) == self.server.credentials:
                    self.say("235 2.7.0 authenticated")
                else:
                    self.say(f"535 5.7.8 rejected {command} for {user}:{password}")
            elif verb == "MAIL":
                sender, recipients = _address(command), []
                self.say("250 OK")
            elif verb == "RCPT":
                recipients.append(_address(command))
                self.say("250 OK")
            elif verb == "DATA":
                self.say("354 end with <CRLF>.<CRLF>")
                lines = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                self.server.messages.append(Received(sender, recipients, b"".join(lines)))
                self.say("250 OK queued")
            elif verb in ("RSET", "NOOP"):
                self.say("250 OK")
            elif verb == "QUIT":
                self.say("221 bye")
                return
            else:
                self.say("502 command not implemented")


class LocalSMTPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Session)
        self.credentials = credentials
        self.messages: list[Received] = []
        self.replies: dict[str, str] = {}  # verb -> the reply line to give instead
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def close(self) -> None:
        self.shutdown()
        self.server_close()
