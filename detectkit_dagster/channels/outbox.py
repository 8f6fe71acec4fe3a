"""A local file outbox: one JSON file per message, for demos and for tests of the dispatch path.

Files are `<outbox_dir>/<channel>/<YYYYmmddTHHMMSS>_<event_id>.json`. A message is written to a
temporary file and renamed into place, so a reader never sees half a file; sending the same event
again replaces the same file.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from detectkit_dagster.channels.message import AlertMessage
from detectkit_dagster.channels.params import Param
from detectkit_dagster.channels.render import message_text
from detectkit_dagster.channels.transport import DeliveryError
from detectkit_dagster.channels.webhook import finite

PARAMS: dict[str, Param] = {}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return finite(value)
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def record(message: AlertMessage, channel: str) -> dict[str, Any]:
    """What the outbox file holds: the rendered text and every field of the message."""
    fields = {key: _plain(value) for key, value in asdict(message).items()}
    fields["links"] = dict(message.links)
    return {"event_id": message.event_id, "channel": channel, "kind": message.kind, "title": message.title,
            "text": message_text(message), "event": fields}


@dataclass(frozen=True)
class OutboxChannel:
    name: str
    directory: Path

    type: ClassVar[str] = "outbox"
    PARAMS: ClassVar[dict[str, Param]] = PARAMS

    def path_for(self, message: AlertMessage) -> Path:
        return self.directory / f"{message.timestamp:%Y%m%dT%H%M%S}_{message.event_id}.json"

    def send(self, message: AlertMessage) -> None:
        target = self.path_for(message)
        where = f"outbox channel {self.name!r}"
        try:
            text = json.dumps(record(message, self.name), ensure_ascii=False, indent=2, allow_nan=False)
        except (ValueError, TypeError) as exc:
            raise DeliveryError(f"{where}: could not render the message: {exc}", retryable=False) from None
        folder = self.directory.resolve()  # a symlinked channel folder must not lead elsewhere
        if not folder.is_relative_to(self.directory.parent.resolve()):
            raise DeliveryError(f"{where}: the channel folder leads outside the outbox", retryable=False)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(text + "\n")
                os.replace(temp, target)
            except BaseException:
                os.unlink(temp)
                raise
        except OSError as exc:  # a full or read-only disk may recover: retry
            raise DeliveryError(f"{where}: could not write {target.name}: {exc}") from None
