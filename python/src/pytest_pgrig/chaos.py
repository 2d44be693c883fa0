"""pytest-pgrig: the chaos fixture, pgrig's fault proxy between the code under test and its database.

One ``pgrig chaos serve`` (the Toxiproxy-compatible HTTP API) per session (per xdist worker); each
test that asks for ``pgrig_chaos`` gets its own proxy in front of its database, deleted after it.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, Iterator, List, Optional

import pytest

from .report import pgrig_command

_START_TIMEOUT_S = 60
_names = itertools.count(1)


class ChaosError(Exception):
    """The chaos API refused a request: its one-line reason, as pgrig wrote it."""


def _die_with_parent() -> None:
    # Linux: the API server gets SIGTERM when pytest goes, even by SIGKILL (no server left behind).
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class ChaosApi:
    """A running ``pgrig chaos serve``: its URL and a JSON request helper."""

    def __init__(self, command: List[str], cwd: str):
        self.process = subprocess.Popen(
            command + ["chaos", "serve", "--port", "0"],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        lines: "queue.Queue[Optional[str]]" = queue.Queue()

        def read() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=read, daemon=True).start()
        try:
            first = lines.get(timeout=_START_TIMEOUT_S)
        except queue.Empty:
            self.close()
            raise ChaosError(f"pgrig chaos serve printed no address in {_START_TIMEOUT_S} s; run it by hand to see why")
        marker = "listening on "
        if first is None or marker not in first:
            error = self.process.stderr.read() if self.process.stderr else ""
            self.close()
            raise ChaosError(error.strip().splitlines()[-1] if error.strip() else "pgrig chaos serve did not start")
        self.url = first.split(marker, 1)[1].strip()

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as error:
            text = error.read().decode()
            try:
                reason = json.loads(text).get("error", text)
            except ValueError:
                reason = text.strip()
            raise ChaosError(f"{method} {path}: {reason}") from None
        return json.loads(text) if text.strip() else None

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream:
                stream.close()


class ChaosProxy:
    """One proxy of the chaos API: ``url`` reaches the upstream through it; faults come and go."""

    def __init__(self, api: ChaosApi, upstream_url: str, name: Optional[str] = None):
        self.api = api
        self.name = name or f"pytest-{os.getpid()}-{next(_names)}"
        self.upstream_url = upstream_url
        parsed = urllib.parse.urlsplit(upstream_url)
        if not parsed.hostname or not parsed.port:
            raise ChaosError(f"{_redacted(upstream_url)} names no host and port; give the URL of a running server")
        upstream = f"[{parsed.hostname}]:{parsed.port}" if ":" in parsed.hostname else f"{parsed.hostname}:{parsed.port}"
        created = api.request("POST", "/proxies", {"name": self.name, "listen": "127.0.0.1:0", "upstream": upstream})
        self.listen: str = created["listen"]
        host, port = self.listen.rsplit(":", 1)
        userinfo = parsed.netloc.rsplit("@", 1)[0] + "@" if "@" in parsed.netloc else ""
        self.host, self.port = host.strip("[]"), int(port)
        #: The upstream URL with the proxy's host and port: what the code under test connects to.
        self.url = urllib.parse.urlunsplit(parsed._replace(netloc=f"{userinfo}{host}:{port}"))

    # -- any toxic, as Toxiproxy has them --

    def add_toxic(
        self,
        type: str,
        attributes: Optional[Dict[str, Any]] = None,
        stream: str = "downstream",
        toxicity: float = 1.0,
        name: Optional[str] = None,
    ) -> str:
        """Adds a toxic (``latency``, ``bandwidth``, ``slow_close``, ``timeout``, ``reset_peer``,
        ``slicer``, ``limit_data``, or a ``pg_*`` type); returns its name."""
        body: Dict[str, Any] = {"type": type, "stream": stream, "toxicity": toxicity, "attributes": attributes or {}}
        if name:
            body["name"] = name
        return self.api.request("POST", f"/proxies/{self.name}/toxics", body)["name"]

    def update_toxic(self, name: str, attributes: Dict[str, Any]) -> None:
        self.api.request("POST", f"/proxies/{self.name}/toxics/{name}", {"attributes": attributes})

    def remove_toxic(self, name: str) -> None:
        self.api.request("DELETE", f"/proxies/{self.name}/toxics/{name}")

    def toxics(self) -> List[Dict[str, Any]]:
        return self.api.request("GET", f"/proxies/{self.name}/toxics")

    # -- network faults --

    def latency(self, ms: int, jitter: int = 0, stream: str = "downstream") -> str:
        return self.add_toxic("latency", {"latency": ms, "jitter": jitter}, stream)

    def bandwidth(self, rate_kb_s: int, stream: str = "downstream") -> str:
        return self.add_toxic("bandwidth", {"rate": rate_kb_s}, stream)

    def timeout(self, ms: int = 0, stream: str = "downstream") -> str:
        """Stops passing data, and closes after ``ms`` (0: never)."""
        return self.add_toxic("timeout", {"timeout": ms}, stream)

    def reset_peer(self, after_ms: int = 0, stream: str = "downstream") -> str:
        """Resets connections (TCP RST) after ``after_ms``."""
        return self.add_toxic("reset_peer", {"timeout": after_ms}, stream)

    def limit_data(self, bytes: int, stream: str = "downstream") -> str:
        return self.add_toxic("limit_data", {"bytes": bytes}, stream)

    def disable(self) -> None:
        """"Down": new connections refused, open ones dropped."""
        self.api.request("POST", f"/proxies/{self.name}", {"enabled": False})

    def enable(self) -> None:
        self.api.request("POST", f"/proxies/{self.name}", {"enabled": True})

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """``with proxy.down():`` the database is unreachable inside the block, back after it."""
        self.disable()
        try:
            yield
        finally:
            self.enable()

    # -- PostgreSQL-protocol faults --

    @staticmethod
    def _statement(match: Optional[str], regex: Optional[str]) -> Dict[str, Any]:
        if match is not None and regex is not None:
            raise ChaosError("give match (the whole statement) or regex, not both")
        if match is not None:
            return {"match": match}
        return {"regex": regex} if regex is not None else {}

    def pg_error(
        self,
        code: str,
        match: Optional[str] = None,
        regex: Optional[str] = None,
        message: Optional[str] = None,
        close: Optional[bool] = None,
        times: int = 0,
        toxicity: float = 1.0,
    ) -> str:
        """The server fails matching statements with SQLSTATE ``code`` (57P01-57P03, 53300: FATAL, closes)."""
        attributes = {"code": code, "times": times, **self._statement(match, regex)}
        if message is not None:
            attributes["message"] = message
        if close is not None:
            attributes["close"] = close
        return self.add_toxic("pg_error", attributes, "upstream", toxicity)

    def pg_delay(self, ms: int, match: Optional[str] = None, regex: Optional[str] = None, times: int = 0) -> str:
        return self.add_toxic("pg_delay", {"ms": ms, "times": times, **self._statement(match, regex)}, "upstream")

    def pg_ambiguous_commit(self, match: Optional[str] = None, regex: Optional[str] = None, times: int = 0) -> str:
        """COMMIT runs on the server; the client gets a connection error instead of its answer."""
        return self.add_toxic("pg_ambiguous_commit", {"times": times, **self._statement(match, regex)}, "upstream")

    def pg_refuse_connection(self, code: str = "53300", times: int = 0, message: Optional[str] = None) -> str:
        """New connections are refused at startup (53300 too many clients, 57P03 starting up)."""
        attributes: Dict[str, Any] = {"code": code, "times": times}
        if message is not None:
            attributes["message"] = message
        return self.add_toxic("pg_refuse_connection", attributes, "upstream")

    def reset(self) -> None:
        """Every toxic gone, enabled again."""
        for toxic in self.toxics():
            self.remove_toxic(toxic["name"])
        self.enable()

    def close(self) -> None:
        self.api.request("DELETE", f"/proxies/{self.name}")


def _redacted(url: str) -> str:
    parsed = urllib.parse.urlsplit(url)
    if parsed.password is None:
        return url
    return urllib.parse.urlunsplit(parsed._replace(netloc=parsed.netloc.replace(f":{parsed.password}@", ":***@")))


@pytest.fixture(scope="session")
def pgrig_chaos_api(request: pytest.FixtureRequest) -> Iterator[ChaosApi]:
    """``pgrig chaos serve`` for the session (each xdist worker has its own); ``.url`` is its HTTP API."""
    rootdir = str(request.config.rootpath)
    command = pgrig_command(rootdir, request.config.getoption("pgrig_bin", None))
    if command is None:
        pytest.fail(
            "pgrig: the chaos fixtures need pgrig, and it was not found (PGRIG_BIN, node_modules/.bin/pgrig "
            "from the rootdir up, pgrig on PATH); npm install -D pgrig, or set PGRIG_BIN",
            pytrace=False,
        )
    try:
        api = ChaosApi(command, rootdir)
    except ChaosError as error:
        pytest.fail(f"pgrig: {error}", pytrace=False)
    yield api
    api.close()


@pytest.fixture
def pgrig_chaos_proxy(pgrig_chaos_api: ChaosApi) -> Iterator[Any]:
    """A factory: ``pgrig_chaos_proxy(url)`` puts a proxy in front of any server URL for this test."""
    made: List[ChaosProxy] = []

    def make(upstream_url: str) -> ChaosProxy:
        proxy = ChaosProxy(pgrig_chaos_api, upstream_url)
        made.append(proxy)
        return proxy

    yield make
    for proxy in made:
        proxy.close()


def _test_database_url(request: pytest.FixtureRequest) -> str:
    # The test's own database when pytest-pgrig's plugin provides one, else the run's (pgrig run).
    try:
        return request.getfixturevalue("pgrig_db_url")
    except pytest.FixtureLookupError:
        pass
    url = os.environ.get("DATABASE_URL")
    if not url:
        pytest.fail(
            "pgrig: pgrig_chaos needs a database: the pgrig_db_url fixture, or DATABASE_URL (run the tests "
            "under pgrig run, or use pgrig_chaos_proxy(url) for another server)",
            pytrace=False,
        )
    return url


@pytest.fixture
def pgrig_chaos(request: pytest.FixtureRequest, pgrig_chaos_proxy: Any) -> ChaosProxy:
    """The fault proxy in front of the test's database for this test: connect to ``.url``, add faults
    (``latency``, ``reset_peer``, ``down()``, ``pg_error`` …); deleted with its faults after the test."""
    return pgrig_chaos_proxy(_test_database_url(request))
