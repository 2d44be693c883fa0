"""The running pgrig of a pytest session: started once through the project's pgrig, or reused.

Other modules of the package (report, chaos) read it through three small functions:

- ``pgrig_command(rootdir, given=None)``: how pgrig is run (a list for ``subprocess``);
- ``config_path(rootdir, given=None)``: the pgrig config file, or None;
- ``current()``: the running :class:`PgrigSession` (``api_url``, ``env``, ``command``, ``config_path``),
  or None before it started.

Under pytest-xdist the controller starts pgrig and exports what it started (the variables ``pgrig run
--serve`` exports, plus ``PGRIG_PYTEST_SESSION``) before the workers start, so every worker reuses the one
pool. The ``pgrig serve`` child stops when its stdin closes (``--until-stdin-closes``): pytest holds the
write end, so however pytest ends, SIGKILL included, the servers and services go with it.
"""

from __future__ import annotations

import json
import os
import selectors
import shlex
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Dict, List, Optional
from urllib.parse import quote, urlsplit, urlunsplit

#: Exported by the process that started pgrig, for xdist workers (and subprocesses) to reuse it.
SESSION_ENV = "PGRIG_PYTEST_SESSION"
CONFIG_NAMES = ("pgrig.config.ts", "pgrig.config.mts", "pgrig.config.js", "pgrig.config.mjs", "pgrig.config.json")


class PgrigStartError(Exception):
    """pgrig could not be found or started: one line, what and what to do."""


def postgresql_url(url: str) -> str:
    """Any libpq URL as ``postgresql://`` (SQLAlchemy refuses ``postgres://``; every driver takes both)."""
    return "postgresql://" + url[len("postgres://") :] if url.startswith("postgres://") else url


def database_url(base: str, database: str, user: Optional[str] = None, password: Optional[str] = None) -> str:
    """``base`` (a server's URL, its TLS query kept) pointed at another database (and user)."""
    parts = urlsplit(postgresql_url(base))
    netloc = parts.netloc
    if user is not None:
        host = netloc.rsplit("@", 1)[-1]
        netloc = quote(user, safe="") + (":" + quote(password, safe="") if password else "") + "@" + host
    return urlunsplit((parts.scheme, netloc, "/" + quote(database, safe=""), parts.query, ""))


@dataclass(frozen=True)
class ServerInfo:
    """One server of the session, from the variables pgrig exports for it (``PGRIG_<NAME>_*``)."""

    name: str
    url: str
    host: str
    port: int
    user: str
    password: str
    database: str
    superuser_url: Optional[str]
    env: Dict[str, str] = field(repr=False)

    def __repr__(self) -> str:  # never a password in a log
        return f"ServerInfo(name={self.name!r}, host={self.host!r}, port={self.port}, database={self.database!r})"


@dataclass
class PgrigSession:
    """What pytest uses of pgrig for the whole session."""

    #: How pgrig is run (``[node, …/pgrig/dist/cli/main.js]``, ``npx pgrig`` or ``PGRIG_BIN``).
    command: List[str]
    #: The pgrig config file, or None (pgrig's defaults).
    config_path: Optional[str]
    #: The IntegreSQL API (``INTEGRESQL_CLIENT_BASE_URL``, ``http://127.0.0.1:<port>/api``).
    api_url: str
    #: The variables ``pgrig run --serve`` exports: ``DATABASE_URL``, ``PG*``, ``PGRIG_<NAME>_*``, services'.
    env: Dict[str, str] = field(repr=False)
    #: True when this pytest started pgrig (and stops it); False when it reused a running one.
    started: bool = False
    process: Optional[subprocess.Popen] = field(default=None, repr=False)
    #: pgrig's stderr: a file without a name (removed however pytest ends, SIGKILL included).
    log: Optional[IO[bytes]] = field(default=None, repr=False)

    @property
    def servers(self) -> Dict[str, ServerInfo]:
        """Every server by its name as pgrig exports it (lower case, ``-`` as ``_``), the first first."""
        names = [k[len("PGRIG_") : -len("_URL")] for k in self.env if k.startswith("PGRIG_") and k.endswith("_URL")]
        names = [n for n in names if not n.endswith("_SUPERUSER") and f"PGRIG_{n}_PORT" in self.env]
        first = self.env.get("DATABASE_URL")
        names.sort(key=lambda n: self.env[f"PGRIG_{n}_URL"] != first)
        out: Dict[str, ServerInfo] = {}
        for n in names:
            p = f"PGRIG_{n}_"
            su = self.env.get(p + "SUPERUSER_URL")
            out[n.lower()] = ServerInfo(
                name=n.lower(),
                url=postgresql_url(self.env[p + "URL"]),
                host=self.env.get(p + "HOST", "127.0.0.1"),
                port=int(self.env.get(p + "PORT", "5432")),
                user=self.env.get(p + "USER", ""),
                password=self.env.get(p + "PASSWORD", ""),
                database=self.env.get(p + "DATABASE", ""),
                superuser_url=postgresql_url(su) if su else None,
                env={k: v for k, v in self.env.items() if k.startswith(p)},
            )
        return out

    @property
    def server(self) -> ServerInfo:
        """The first server: the one ``DATABASE_URL`` points at and the pool makes test databases on."""
        servers = self.servers
        if not servers:
            raise PgrigStartError("pgrig: the running pgrig exported no server (no PGRIG_<NAME>_URL)")
        return next(iter(servers.values()))

    def to_env(self) -> Dict[str, str]:
        info = {"command": self.command, "config_path": self.config_path, "keys": sorted(self.env)}
        return {**self.env, "INTEGRESQL_CLIENT_BASE_URL": self.api_url, SESSION_ENV: json.dumps(info)}

    def stop(self, timeout: float = 60) -> None:
        """Stops what this session started (closing pgrig's stdin); a reused pgrig is left alone."""
        proc = self.process
        try:
            if proc is None or proc.poll() is not None:
                return
            if proc.stdin:
                proc.stdin.close()
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(10)
        finally:
            if self.log:
                self.log.close()


_current: Optional[PgrigSession] = None


def current() -> Optional[PgrigSession]:
    """The session's pgrig, once started or found (None before)."""
    return _current


def _set_current(session: Optional[PgrigSession]) -> None:
    global _current
    _current = session


def _ancestors(rootdir: Path):
    yield rootdir
    yield from rootdir.parents


def pgrig_command(rootdir, given: Optional[str] = None, npx: bool = True) -> List[str]:
    """How to run the project's pgrig: ``given`` (``--pgrig-bin``) or ``PGRIG_BIN``, else the pgrig in
    ``node_modules`` from the rootdir up (what ``npx pgrig`` runs, without npx's start-up), else ``pgrig``
    on PATH, else (with ``npx``) npx."""
    given = given or os.environ.get("PGRIG_BIN")
    if given:
        return shlex.split(given)
    for folder in _ancestors(Path(rootdir).resolve()):
        package = folder / "node_modules" / "pgrig" / "package.json"
        if package.is_file():
            node = shutil.which("node")
            bin_ = json.loads(package.read_text()).get("bin")
            script = bin_.get("pgrig") if isinstance(bin_, dict) else bin_
            if node and script:
                return [node, str(package.parent / script)]
    on_path = shutil.which("pgrig")
    if on_path:
        return [on_path]
    npx_path = shutil.which("npx") if npx else None
    if npx_path:
        return [npx_path, "--no-install", "pgrig"]
    raise PgrigStartError(
        f"pgrig: no pgrig for {rootdir}: node_modules/pgrig not found and no npx on PATH; "
        "run npm install -D pgrig in the project, or give --pgrig-bin / PGRIG_BIN"
    )


def config_path(rootdir, given: Optional[str] = None) -> Optional[str]:
    """The pgrig config: ``given`` (``--pgrig-config``) or ``PGRIG_CONFIG``, else pgrig.config.* in the rootdir."""
    given = given or os.environ.get("PGRIG_CONFIG")
    if given:
        path = Path(rootdir, given).resolve()
        if not path.is_file():
            raise PgrigStartError(f"pgrig: the config {given} does not exist; fix --pgrig-config / PGRIG_CONFIG")
        return str(path)
    for name in CONFIG_NAMES:
        if Path(rootdir, name).is_file():
            return str(Path(rootdir, name))
    return None


def from_env(env=os.environ) -> Optional[PgrigSession]:
    """A pgrig already running for this process: exported by ``pgrig run --serve`` or by the pytest
    controller (``PGRIG_PYTEST_SESSION``); None when ``INTEGRESQL_CLIENT_BASE_URL`` is not set."""
    api = env.get("INTEGRESQL_CLIENT_BASE_URL")
    if not api or "DATABASE_URL" not in env:
        return None
    info = json.loads(env.get(SESSION_ENV) or "{}")
    keys = set(info.get("keys") or ("DATABASE_URL", "REDIS_URL"))
    exported = {k: v for k, v in env.items() if k.startswith("PG") or k in keys}
    exported.pop(SESSION_ENV, None)
    return PgrigSession(
        command=info.get("command") or [], config_path=info.get("config_path"), api_url=api, env=exported
    )


def _last_line(log: IO[bytes]) -> str:
    try:
        log.seek(0)
        text = log.read().decode(errors="replace")
    except OSError:
        return ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    own = [line for line in lines if line.startswith("pgrig")]
    errors = [line for line in lines if "error" in line.lower()]
    return own[-1] if own else errors[0] if errors else lines[-1] if lines else ""


def start(rootdir, command: List[str], config: Optional[str], extra: List[str] = (), timeout: float = 300):
    """Starts ``pgrig serve`` (its servers, services and pool) in ``rootdir``; waits for its JSON line.

    pytest holds the write end of the child's stdin: when pytest exits, however it exits, stdin closes
    and pgrig stops everything it started (``--until-stdin-closes``)."""
    # No name on disk (O_TMPFILE): nothing is left behind when pytest is killed.
    log = tempfile.TemporaryFile(prefix="pgrig-pytest-", suffix=".log")
    args = [*command, "serve", "--port", "0", "--json", "--until-stdin-closes", *extra]
    if config:
        args += ["--config", config]
    env = {k: v for k, v in os.environ.items() if k not in ("INTEGRESQL_CLIENT_BASE_URL", SESSION_ENV)}
    try:
        proc = subprocess.Popen(
            args,
            cwd=str(rootdir),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            # Ctrl-C reaches pytest, which then stops pgrig in order (the servers first, cleanly).
            start_new_session=True,
        )
    except OSError as error:
        log.close()
        raise PgrigStartError(
            f"pgrig: cannot run {shlex.join(command)}: {error.strerror}; fix --pgrig-bin / PGRIG_BIN"
        ) from None
    line = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                proc.kill()
                proc.wait()
                said = _last_line(log)
                log.close()
                raise PgrigStartError(
                    f"pgrig: {shlex.join(args)} was not ready within {timeout:.0f} s; its log said: {said}"
                )
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                proc.wait()
                reason = _last_line(log) or f"exit {proc.returncode}"
                log.close()
                if not reason.startswith("pgrig"):
                    reason = (
                        f"pgrig: {shlex.join(command)} serve failed: {reason}; install pgrig in the project "
                        "(npm install -D pgrig) or give --pgrig-bin / PGRIG_BIN"
                    )
                raise PgrigStartError(reason)
            line += chunk
    ready = json.loads(line)
    return PgrigSession(
        command=list(command),
        config_path=config,
        api_url=ready["baseUrl"],
        env=dict(ready["env"]),
        started=True,
        process=proc,
        log=log,
    )
