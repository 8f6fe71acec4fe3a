"""HTTP delivery with the standard library: a total deadline, and failures that say whether a
retry can help.

A request has `timeout` seconds in all (connect, send, reply); 5xx, 408, 429 and network
failures are retryable, other statuses are not (a redirect is refused: urllib would re-send a
POST as a GET without its body). Errors name only the scheme and host of a URL; the channel
wrapper built by the registry scrubs every configured secret from what a server replied.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import http.client
import json
import ssl
import urllib.error
import urllib.request
from contextlib import contextmanager
from typing import Any, Iterator, Mapping
from urllib.parse import urlsplit

from detectkit_dagster.channels.deadline import DeadlineExceeded, socket_timeout, track, within
from detectkit_dagster.errors import DeliveryError

DEFAULT_TIMEOUT = 10.0
MAX_REPLY = 64 * 1024  # bytes of a reply kept: enough for any error text, never a flood
RETRYABLE_STATUS = (408, 425, 429)


@contextmanager
def rendering(channel: str) -> Iterator[None]:
    """A message that cannot be rendered (say, an unknown time zone) is a failed delivery too,
    and one that a retry cannot fix."""
    try:
        yield
    except (KeyError, ValueError, TypeError) as exc:
        raise DeliveryError(f"{channel}: could not render the message: {exc}", retryable=False) from None


def retryable_status(status: int) -> bool:
    return status >= 500 or status in RETRYABLE_STATUS


@functools.cache
def _tracked(connection_class: type[http.client.HTTPConnection]) -> type:
    """The connection class, registering its socket as soon as it connects (before any TLS or
    proxy handshake), so the deadline can cut it."""

    class Tracked(connection_class):  # type: ignore[valid-type, misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            create = self._create_connection
            self._create_connection = lambda *a, **k: track(create(*a, **k))

    return Tracked


class _HTTP(urllib.request.HTTPHandler):
    def do_open(self, http_class, req, **kwargs):  # type: ignore[override]
        return super().do_open(_tracked(http_class), req, **kwargs)


class _HTTPS(urllib.request.HTTPSHandler):
    def do_open(self, http_class, req, **kwargs):  # type: ignore[override]
        return super().do_open(_tracked(http_class), req, **kwargs)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


# Proxies from the environment keep working: only the connection classes change.
_OPENER = urllib.request.build_opener(_NoRedirect, _HTTP, _HTTPS)


def origin(url: str) -> str:
    """`https://hooks.slack.com` for any URL: no user info, path or query."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}"


def excerpt(raw: bytes) -> str:
    """A single line of a server reply (the channel wrapper scrubs and shortens it)."""
    return " ".join(raw.decode("utf-8", "replace").split())


def json_body(payload: Any) -> bytes:
    """UTF-8 JSON; NaN is not JSON, so the payload builders must have turned it into null."""
    return json.dumps(payload, ensure_ascii=False, allow_nan=False).encode("utf-8")


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def post(url: str, body: bytes, *, channel: str, timeout: float,
         headers: Mapping[str, str] | None = None) -> bytes:
    """POST `body` within `timeout` seconds in all; the reply body on 2xx, else DeliveryError
    prefixed with `channel`."""
    where = origin(url)
    try:
        request = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json", **(headers or {})})
        status, data = within(timeout, lambda: _exchange(request, timeout))
    except DeadlineExceeded:
        raise DeliveryError(f"{channel}: timed out: no complete reply from {where} within {timeout:g} s") from None
    except (OSError, http.client.HTTPException) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        cause = (str(reason).strip().splitlines() or [""])[0] or type(reason).__name__
        # A certificate that does not verify will not verify on the next try either.
        retry = not isinstance(reason, ssl.SSLCertVerificationError)
        raise DeliveryError(f"{channel}: could not reach {where}: {cause}", retryable=retry) from None
    except ValueError as exc:  # a URL urllib cannot use: the config, not the network
        raise DeliveryError(f"{channel}: cannot post to {where}: {exc}", retryable=False) from None
    if not 200 <= status < 300:
        detail = f": {excerpt(data)}" if data else ""
        raise DeliveryError(f"{channel}: HTTP {status} from {where}{detail}", retryable=retryable_status(status))
    return data


def _exchange(request: urllib.request.Request, timeout: float) -> tuple[int, bytes]:
    """(status, at most MAX_REPLY bytes of the reply); every status comes back, none raises."""
    try:
        with _OPENER.open(request, timeout=socket_timeout(timeout)) as reply:
            return reply.status, reply.read(MAX_REPLY)
    except urllib.error.HTTPError as exc:
        with exc:
            try:
                return exc.code, exc.read(MAX_REPLY)
            except (OSError, http.client.HTTPException):
                return exc.code, b""


def post_json(url: str, payload: Any, *, channel: str, timeout: float,
              headers: Mapping[str, str] | None = None) -> bytes:
    return post(url, json_body(payload), channel=channel, timeout=timeout, headers=headers)
