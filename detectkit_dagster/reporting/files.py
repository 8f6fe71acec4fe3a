"""Report files on disk.

Layout under ``reports_dir``::

    plotly-<version>.min.js        shared by every page (unless self-contained)
    <metric>.html                  the metric's current report
    <metric>/<partition>.html      one per partition

Every file is written to a temporary sibling and moved into place, so a reader never
sees half a page and a crash leaves the previous file intact.
"""

from __future__ import annotations

import os
import posixpath
import re
import tempfile
from pathlib import Path
from urllib.parse import quote

from .model import ReportFile, ReportInput
from .page import plotly_js, plotly_version, prepare_page

_SAFE_CHAR = re.compile(r"[A-Za-z0-9_.\-]")
_ESCAPE = "~"
_WINDOW_END = re.compile(rb'<meta name="report-window-end" content="(-?\d+)">')


def write_report(
    report: ReportInput, reports_dir: str | os.PathLike, partition_key: str, self_contained: bool = False
) -> ReportFile:
    """Write the partition page and refresh the metric's current page.

    The current page only moves forward: a backfill of an older partition leaves a newer
    report in place.
    """
    root = Path(reports_dir)
    metric_stem = file_stem(report.metric)
    path = root / metric_stem / f"{file_stem(partition_key)}.html"
    latest = root / f"{metric_stem}.html"
    script = None if self_contained else ensure_plotly_js(root)

    prepared = prepare_page(report)
    page = prepared.render(script and relative_url(script, path.parent)).encode("utf-8")
    write_atomic(path, page)
    if is_newer_than(page, latest):
        # The current page sits one folder up, so its script path differs.
        write_atomic(latest, prepared.render(script and relative_url(script, latest.parent)).encode("utf-8"))
    return ReportFile(path=path, latest_path=latest, size_bytes=len(page), summary=prepared.summary)


def file_stem(key: str) -> str:
    """A readable, reversible file name for a metric or partition key.

    Letters, digits, '_', '-' and '.' stay; any other byte of the UTF-8 text becomes
    '~XX' (so '2024-01-01-10:00' -> '2024-01-01-10~3A00'). A leading '.' is escaped too,
    which keeps '.', '..' and hidden names out.
    """
    if not key:
        raise ValueError("a report file name needs a non-empty key")
    out = []
    for position, char in enumerate(key):
        if _SAFE_CHAR.fullmatch(char) and not (position == 0 and char == "."):
            out.append(char)
        else:
            out.extend(f"{_ESCAPE}{byte:02X}" for byte in char.encode("utf-8"))
    return "".join(out)


def key_from_stem(stem: str) -> str:
    """Inverse of ``file_stem``."""
    raw = bytearray()
    index = 0
    while index < len(stem):
        if stem[index] == _ESCAPE:
            raw += bytes.fromhex(stem[index + 1 : index + 3])
            index += 3
        else:
            raw += stem[index].encode("ascii")
            index += 1
    return raw.decode("utf-8")


def ensure_plotly_js(root: Path) -> Path:
    """The shared plotly.js, written once per version (the name changes with the version)."""
    path = root / f"plotly-{plotly_version()}.min.js"
    source = plotly_js().encode("utf-8")
    if not path.exists() or path.stat().st_size != len(source):
        write_atomic(path, source)
    return path


def relative_url(target: Path, from_dir: Path) -> str:
    """URL of ``target`` as seen from a page in ``from_dir``: '../plotly-x.min.js'."""
    relative = os.path.relpath(target, from_dir).replace(os.sep, posixpath.sep)
    return quote(relative)


def is_newer_than(page: bytes, existing: Path) -> bool:
    """Whether a page's window ends at or after the one already at ``existing``."""
    try:
        with existing.open("rb") as handle:
            head = handle.read(4096)
    except FileNotFoundError:
        return True
    old, new = _WINDOW_END.search(head), _WINDOW_END.search(page[:4096])
    return old is None or new is None or int(new.group(1)) >= int(old.group(1))


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o644)  # mkstemp makes 0600; reports are meant to be read
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
