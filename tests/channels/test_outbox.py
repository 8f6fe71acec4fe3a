"""The file outbox: one JSON file per event, written atomically, idempotent."""

from __future__ import annotations

import json

import pytest

from channel_samples import SPEC_ANOMALY, channel, message, no_data_event
from detectkit_dagster.channels import DeliveryError


def test_outbox_writes_one_file_per_event(tmp_path):
    box = channel("demo", "outbox", tmp_path)
    box.send(message())
    (path,) = (tmp_path / "demo").iterdir()
    assert path.name == "20240101T023000_3f2a9c1d0e4b5a6f.json"
    record = json.loads(path.read_text())
    assert record["event_id"] == "3f2a9c1d0e4b5a6f" and record["kind"] == "anomaly"
    assert record["title"] == "\U0001F534 [payments] Alert: api_errors"
    # The default body with base mentions (`@name`), otherwise the spec's example.
    assert record["text"] == SPEC_ANOMALY.replace("CC: U12345678, bob, 12345", "@here @U12345678 @bob @12345")
    event = record["event"]
    assert event["event_id"] == "3f2a9c1d0e4b5a6f" and event["metric"] == "api_errors"
    assert event["timestamp"] == "2024-01-01T02:30:00" and event["onset"] == "2024-01-01T00:10:00"
    assert event["confidence_upper"] is None and event["links"] == {}


def test_sending_again_replaces_the_same_file(tmp_path):
    box = channel("demo", "outbox", tmp_path)
    box.send(message())
    first = (tmp_path / "demo" / "20240101T023000_3f2a9c1d0e4b5a6f.json").read_text()
    box.send(message())
    box.send(message(no_data_event()))
    names = sorted(p.name for p in (tmp_path / "demo").iterdir())
    assert names == ["20240101T023000_00dd00dd00dd00dd.json", "20240101T023000_3f2a9c1d0e4b5a6f.json"]
    assert (tmp_path / "demo" / names[1]).read_text() == first  # no temporary files left, same content


def test_unwritable_outbox_is_a_delivery_error(tmp_path):
    (tmp_path / "demo").write_text("a file where the folder should be")
    with pytest.raises(DeliveryError, match="outbox channel 'demo'"):
        channel("demo", "outbox", tmp_path).send(message())
