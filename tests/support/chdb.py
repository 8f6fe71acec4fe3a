"""Current ClickHouse SQL in process (chdb-core), for the types the old Debian server lacks
(DateTime64, Date32, Decimal128, ...). A query's result travels in ClickHouse's Native
format, the same column encoding as the native protocol, and is decoded by clickhouse-driver's
own column readers: so the rows reach `frame_from_columns` exactly as they would from a server."""

from __future__ import annotations

import io

import polars as pl

from detectkit_dagster.sources.base import frame_from_columns


class _Bytes:
    """The socket interface clickhouse-driver's reader needs, over bytes."""

    def __init__(self, data: bytes):
        self._buffer = io.BytesIO(data)

    def recv_into(self, target) -> int:
        return self._buffer.readinto(target)


def decode_native(data: bytes) -> tuple[list[tuple], list[tuple[str, str]]]:
    """Columns and (name, type) pairs of a Native-format result, as the driver reads them."""
    from clickhouse_driver.bufferedreader import BufferedSocketReader
    from clickhouse_driver.connection import ServerInfo
    from clickhouse_driver.context import Context
    from clickhouse_driver.streams.native import BlockInputStream

    context = Context()
    # Revision 0: a Native file has no per-block info; zone-less DateTime decoded in UTC as the source does.
    context.server_info = ServerInfo("chdb", 0, 0, 0, 0, "UTC", "chdb", 0)
    context.settings = {}
    context.client_settings = {"strings_as_bytes": False, "strings_encoding": "utf-8", "use_numpy": False,
                               "input_format_null_as_default": False, "namedtuple_as_json": False}
    stream = BlockInputStream(BufferedSocketReader(_Bytes(data), 1 << 16), context)
    columns: list[list] = []
    types: list[tuple[str, str]] = []
    while True:
        try:
            block = stream.read()
        except EOFError:  # the end of the result
            break
        if not types:
            types = block.columns_with_types
            columns = [[] for _ in types]
        for target, values in zip(columns, block.get_columns()):
            target.extend(values)
    return [tuple(c) for c in columns], types


class ChdbSource:
    """A `Source` over an in-process chdb session."""

    label = "clickhouse (chdb, in process)"

    def __init__(self, session):
        self.session = session

    def fetch(self, sql: str) -> pl.DataFrame:
        sql = sql.strip().rstrip(";")
        columns, types = decode_native(self.session.query(f"{sql}\nFORMAT Native", "Native").bytes())
        if not types:  # an empty result has no block to name its columns: ask for them
            described = self.session.query(f"DESCRIBE TABLE ({sql})", "CSV").bytes().decode()
            types = [tuple(line.split(",")[:2]) for line in described.splitlines()]
            columns = [()] * len(types)
        return frame_from_columns([name.strip('"') for name, _ in types], columns)
