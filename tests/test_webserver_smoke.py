"""Start the real Dagster webserver on the shipped project and ask its GraphQL API for the assets."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from detectkit_dagster.project import load_project

from conftest import REPO

QUERY = "{ assetNodes { assetKey { path } groupName kinds } }"
LOCATIONS = """{ workspaceOrError { ... on Workspace { locationEntries {
  name locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def wait_for(port: int, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"webserver exited early with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("webserver did not answer in time")


def test_webserver_lists_every_demo_metric_asset(tmp_path):
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "DETECTKIT_PROJECT_DIR": str(REPO)}
    # A new session with default signal handlers: otherwise the server inherits ignored
    # SIGINT from a scripted parent and cannot be stopped.
    proc = subprocess.Popen(
        [sys.executable, "-m", "dagster_webserver", "-w", str(REPO / "workspace.yaml"),
         "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=lambda: (signal.signal(signal.SIGINT, signal.SIG_DFL), signal.signal(signal.SIGTERM, signal.SIG_DFL)),
    )
    try:
        wait_for(port, proc)
        entries = graphql(port, LOCATIONS)["data"]["workspaceOrError"]["locationEntries"]
        nodes = graphql(port, QUERY)["data"]["assetNodes"]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    (entry,) = entries
    assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry["locationOrLoadError"]
    listed = {tuple(n["assetKey"]["path"]): n for n in nodes}
    metrics = [m.name for m in load_project(REPO).metrics]
    for name in metrics:
        for table in ("datapoints", "detections", "alerts", "report"):
            assert (name, table) in listed, f"{name}/{table} missing from the UI"
            assert listed[(name, table)]["groupName"] == name
    assert proc.returncode is not None
