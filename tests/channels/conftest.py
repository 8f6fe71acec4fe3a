import socket
import sys
from pathlib import Path

import pytest

# The local servers and sample messages live next to the tests (unique module names).
sys.path.append(str(Path(__file__).parent))  # appended: `conftest` must stay the root one

from local_http import LocalHTTPServer  # noqa: E402
from local_smtp import LocalSMTPServer  # noqa: E402


@pytest.fixture
def http_server():
    server = LocalHTTPServer()
    yield server
    server.close()


@pytest.fixture
def smtp_server():
    server = LocalSMTPServer(credentials=("alerts", "s3cret-pass"))
    yield server
    server.close()


@pytest.fixture
def closed_port() -> int:
    """A port with nothing listening: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
