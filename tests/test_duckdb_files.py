"""DuckDB files attached to one in-process database: the file lock lasts one operation, nested
and concurrent uses share one attachment, and a file held elsewhere is waited for."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import duckdb
import pytest

from detectkit_dagster.duckdb_files import ROW_GROUP_SIZE, FileAttacher


def locked_by_us(path) -> bool:
    """Whether another process is refused the file right now."""
    probe = subprocess.run([sys.executable, "-c", f"import duckdb; duckdb.connect({str(path)!r}).close()"],
                           capture_output=True, text=True)
    return probe.returncode != 0 and "lock" in probe.stderr.lower()


def test_the_lock_is_held_inside_the_block_only(tmp_path):
    attach, path = FileAttacher(), tmp_path / "m.duckdb"
    with attach(path) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
        assert locked_by_us(path)
    assert not locked_by_us(path)
    with duckdb.connect(str(path)) as con:  # written through, readable by anyone after the block
        assert con.execute("SELECT x FROM t").fetchall() == [(1,)]


def test_nested_uses_share_the_file_and_see_only_it(tmp_path):
    attach = FileAttacher()
    with attach(tmp_path / "a.duckdb") as outer:
        outer.execute("CREATE TABLE t AS SELECT 'a' AS x")
        with attach(tmp_path / "a.duckdb") as inner, attach(tmp_path / "b.duckdb") as other:
            assert inner.execute("SELECT x FROM t").fetchall() == [("a",)]
            other.execute("CREATE TABLE t AS SELECT 'b' AS x")
            assert other.execute("SELECT x FROM t").fetchall() == [("b",)]
        assert outer.execute("SELECT x FROM t").fetchall() == [("a",)]  # still attached for the outer block
    assert not locked_by_us(tmp_path / "a.duckdb")


def test_threads_share_one_attachment(tmp_path):
    attach, path, errors = FileAttacher(), tmp_path / "m.duckdb", []
    with attach(path) as con:
        con.execute("CREATE TABLE t (i INTEGER)")

    def insert(i):
        try:
            for _ in range(20):
                with attach(path) as c:
                    c.execute("INSERT INTO t VALUES (?)", [i])
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=insert, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with attach(path) as con:
        assert con.execute("SELECT count(*) FROM t").fetchall() == [(80,)]


def test_a_file_held_by_another_process_is_waited_for(tmp_path):
    path = tmp_path / "m.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", (
        f"import duckdb, time; c = duckdb.connect({str(path)!r}); c.execute('CREATE TABLE t AS SELECT 7 AS x');"
        " print('held', flush=True); time.sleep(1.5); c.close()")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    started = time.monotonic()
    with FileAttacher(wait_seconds=30)(path) as con:
        assert con.execute("SELECT x FROM t").fetchall() == [(7,)]
    assert time.monotonic() - started > 0.5  # it waited for the holder rather than failing
    holder.wait()


def test_a_file_held_too_long_fails_with_the_lock_error(tmp_path):
    path = tmp_path / "m.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", (
        f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('held', flush=True); time.sleep(30)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(duckdb.IOException, match="lock"):
            with FileAttacher(wait_seconds=0.3)(path):
                pass
    finally:
        holder.kill()
        holder.wait()


def test_memory_is_given_back_once_nothing_is_attached(tmp_path):
    attach = FileAttacher()
    with attach(tmp_path / "a.duckdb") as con:
        con.execute("CREATE TABLE t AS SELECT range AS i FROM range(10)")
        database = attach._database
        with attach(tmp_path / "b.duckdb"):
            attach.give_back_memory()
        assert attach._database is database  # a file is still attached: the database stays
    assert attach._database is None  # closed with the last file
    with attach(tmp_path / "a.duckdb") as con:  # and a new one opens on the next call
        assert con.execute("SELECT count(*) FROM t").fetchall() == [(10,)]
    assert attach._database is not None


def test_a_bulk_insert_is_stored_in_small_row_groups(tmp_path):
    """What bounds a bulk insert's memory: rows go out in row groups of ROW_GROUP_SIZE."""
    attach = FileAttacher()
    with attach(tmp_path / "m.duckdb") as con:
        con.execute("CREATE TABLE t AS SELECT range AS x, 'row ' || range AS label FROM range(50000)")
        groups = con.execute("SELECT row_group_id, max(count) FROM pragma_storage_info('t') GROUP BY 1").fetchall()
        assert con.execute("SELECT count(*), sum(x) FROM t").fetchone() == (50000, sum(range(50000)))
    assert len(groups) == -(-50000 // ROW_GROUP_SIZE)
    assert max(count for _, count in groups) == ROW_GROUP_SIZE
