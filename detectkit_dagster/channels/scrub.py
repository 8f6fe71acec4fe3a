"""Keeping a channel's secrets out of every error it raises.

The secrets are the values of the parameters a channel type marks secret; a secret URL adds
each of its path segments and query values (webhook tokens live there). A server may echo a
secret whole, URL-encoded, or only in part ("invalid token abc123..."): any run of at least
`PART` characters that also occurs inside a secret is masked, so is a shorter secret standing
alone as a word.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping
from urllib.parse import parse_qsl, quote, unquote, urlsplit

MASK = "***"
PART = 6          # a shorter run shared with a secret is not masked (it would hit ordinary words)
MIN_SECRET = 4    # shorter values (route words such as `api`, `v1`) are not secrets
MAX_MESSAGE = 500


def url_secrets(url: str) -> list[str]:
    """The parts of a URL that may carry a token: user info, path, query, fragment, and each
    path segment and query value on its own."""
    parts = urlsplit(url.strip())
    found = [parts.username, parts.password, parts.path, parts.query, parts.fragment]
    found += parts.path.split("/")
    found += [value for _, value in parse_qsl(parts.query, keep_blank_values=True)]
    return [p for p in found if p]


def secrets_of(values: Mapping[str, Any], secret_params: Iterable[str]) -> tuple[str, ...]:
    """Every text to keep out of a channel's errors, longest first."""
    found: list[str] = []
    for name in secret_params:
        for text in _texts(values.get(name)):
            # A URL's scheme and host are shown in messages on purpose; the rest is secret.
            found += url_secrets(text) if "://" in text else [text]
    found += [variant for text in list(found) for variant in (quote(text, safe=""), unquote(text))]
    return tuple(sorted({s for s in found if len(s) >= MIN_SECRET}, key=len, reverse=True))


def _texts(value: Any) -> list[str]:
    if isinstance(value, Mapping):
        return [t for v in value.values() for t in _texts(v)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _texts(v)]
    return [] if value is None or isinstance(value, bool) else [str(value)]


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret, and every long enough piece of one, masked; at most
    MAX_MESSAGE characters."""
    for secret in secrets:
        if len(secret) >= PART:
            text = _mask_shared_runs(text, secret)
        else:
            text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", MASK, text)
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "\u2026"


def _mask_shared_runs(text: str, secret: str) -> str:
    """Mask every maximal run of `text` of at least PART characters that occurs in `secret`."""
    out: list[str] = []
    i = 0
    while i < len(text):
        length = 0
        while i + length < len(text) and text[i: i + length + 1] in secret:
            length += 1
        if length >= PART:
            out.append(MASK)
            i += length
        else:
            out.append(text[i])
            i += 1
    return "".join(out)
