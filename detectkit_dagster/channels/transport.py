"""HTTP delivery with the standard library, and errors that are safe to log.

Webhook URLs carry their secret in the path or query, bot tokens sit in the path: an error
names only the scheme and host, and every known secret is blanked from server replies.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import urllib.error
import urllib.request
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Mapping
from urllib.parse import urlsplit

from detectkit_dagster.errors import DeliveryError

DEFAULT_TIMEOUT = 10.0
_EXCERPT = 200


@contextmanager
def rendering(channel: str) -> Iterator[None]:
    """A message that cannot be rendered (say, an unknown time zone) is a failed delivery too."""
    try:
        yield
    except (KeyError, ValueError, TypeError) as exc:
        raise DeliveryError(f"{channel}: could not render the message: {exc}") from None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib would re-send a redirected POST as a GET without its body: treat 3xx as a failure.
    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def origin(url: str) -> str:
    """`https://hooks.slack.com` for any URL: no user info, path or query."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}"


def url_secrets(url: str) -> list[str]:
    """The parts of a URL that may hold a token."""
    parts = urlsplit(url)
    return [p for p in (parts.path, parts.query, parts.username, parts.password) if p and len(p) > 1]


def redact(text: str, secrets: Iterable[str | None]) -> str:
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def excerpt(raw: bytes, secrets: Iterable[str | None]) -> str:
    """A short, single-line, secret-free piece of a server reply."""
    text = " ".join(raw.decode("utf-8", "replace").split())
    text = redact(text, secrets)
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "\u2026"


def json_body(payload: Any) -> bytes:
    """UTF-8 JSON; NaN is not JSON, so the payload builders must have turned it into null."""
    return json.dumps(payload, ensure_ascii=False, allow_nan=False).encode("utf-8")


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def post(url: str, body: bytes, *, channel: str, timeout: float, headers: Mapping[str, str] | None = None,
         secrets: Iterable[str | None] = ()) -> bytes:
    """POST `body`; return the reply body on 2xx, else raise DeliveryError prefixed with `channel`."""
    secrets = [*secrets, *url_secrets(url)]
    where = origin(url)
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with _OPENER.open(request, timeout=timeout) as reply:
            data = reply.read()
            status = reply.status
    except urllib.error.HTTPError as exc:
        try:
            data = exc.read()
        except (OSError, http.client.HTTPException):
            data = b""
        detail = f": {excerpt(data, secrets)}" if data else ""
        raise DeliveryError(f"{channel}: HTTP {exc.code} from {where}{detail}") from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        cause = redact(str(reason), secrets) or type(reason).__name__
        raise DeliveryError(f"{channel}: could not reach {where}: {cause}") from None
    if not 200 <= status < 300:
        raise DeliveryError(f"{channel}: HTTP {status} from {where}: {excerpt(data, secrets)}")
    return data


def post_json(url: str, payload: Any, *, channel: str, timeout: float,
              headers: Mapping[str, str] | None = None, secrets: Iterable[str | None] = ()) -> bytes:
    return post(url, json_body(payload), channel=channel, timeout=timeout, headers=headers, secrets=secrets)
