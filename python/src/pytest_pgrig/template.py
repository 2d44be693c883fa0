"""The template database, from the team's own migrations, through pgrig serve's IntegreSQL API.

Two kinds of migrations:

- a folder (or files) of ``.sql`` files, applied in name order as the app role (``pgrig_migrations``);
- a command (``pgrig_migrate_command``, e.g. ``alembic upgrade head``), run in the rootdir with
  ``DATABASE_URL`` and ``PG*`` pointing at the template; ``pgrig_migrations`` then names what it reads.

The template's hash covers every input: the files' paths and contents, the command, the server's
version. Changing one migration makes a new template; running again with nothing changed reuses it.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shlex
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple
from urllib.parse import urlsplit

from .session import PgrigSession, PgrigStartError, database_url

HASH_VERSION = "pytest-pgrig template v1"
#: Looked for in the rootdir when ``pgrig_migrations`` is not set.
DEFAULT_INPUTS = ("migrations", "alembic", "alembic.ini")


class MigrationError(Exception):
    """A migration failed: one line naming the file (and the line, where the tool says it)."""


class Api:
    """A small keep-alive client of the IntegreSQL API (``INTEGRESQL_CLIENT_BASE_URL``)."""

    def __init__(self, base_url: str):
        parts = urlsplit(base_url)
        self.host, self.port, self.prefix = parts.hostname, parts.port or 80, parts.path.rstrip("/")
        self.conn: Optional[http.client.HTTPConnection] = None

    def request(self, method: str, path: str, body=None) -> Tuple[int, object]:
        payload = None if body is None else json.dumps(body)
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
            try:
                self.conn.request(method, self.prefix + "/v1" + path, body=payload, headers=headers)
                response = self.conn.getresponse()
                raw = response.read()
                return response.status, (json.loads(raw) if raw else None)
            except (http.client.HTTPException, ConnectionError) as error:
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise PgrigStartError(
                        f"pgrig: the API at {self.host}:{self.port} did not answer {method} {path}: {error}; "
                        "did pgrig serve stop?"
                    ) from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def message_of(body) -> str:
    return body.get("message", "") if isinstance(body, dict) else str(body or "")


@dataclass(frozen=True)
class TemplateSource:
    rootdir: Path
    #: Every file the hash covers, sorted.
    inputs: Tuple[Path, ...]
    #: The migrate command, or None: then the ``.sql`` files among ``inputs`` are applied in order.
    command: Optional[str]
    #: The .sql files applied (default: those among ``inputs``).
    applied: Optional[List[Path]] = None

    @property
    def sql_files(self) -> List[Path]:
        return self.applied if self.applied is not None else [p for p in self.inputs if p.suffix == ".sql"]

    def relative(self, path) -> str:
        try:
            return str(Path(path).resolve().relative_to(self.rootdir))
        except ValueError:
            return str(path)


def _files(path: Path) -> List[Path]:
    if path.is_file():
        return [path]
    skip = {"__pycache__", ".git", "node_modules"}
    return [
        p
        for p in sorted(path.rglob("*"))
        if p.is_file() and not skip.intersection(p.relative_to(path).parts) and p.suffix not in (".pyc", ".pyo")
    ]


def template_source(rootdir, migrations: List[str], command: Optional[str]) -> TemplateSource:
    """What the template is built from: ``migrations`` (paths relative to the rootdir; default the ones
    of migrations/, alembic/, alembic.ini that exist) and the command."""
    root = Path(rootdir).resolve()
    given = [m for m in migrations if m.strip()]
    paths = [root / m for m in given] if given else [root / m for m in DEFAULT_INPUTS if (root / m).exists()]
    missing = [str(p.relative_to(root)) for p in paths if not p.exists()]
    if missing:
        raise PgrigStartError(
            f"pgrig: pgrig_migrations names {', '.join(missing)}, which does not exist in {root}; fix the ini option"
        )
    files = sorted({f.resolve() for p in paths for f in _files(p)}, key=lambda f: str(f))
    if not command and not given and any(f.name in ("alembic.ini", "env.py") for f in files):
        # An alembic (or Flask-Migrate) project: its migrations are Python, run by its own tool.
        raise PgrigStartError(
            "pgrig: this project migrates with alembic, but pgrig_migrate_command is not set; add "
            "pgrig_migrate_command = alembic upgrade head (or python -m alembic.config upgrade head) to the pytest ini"
        )
    return TemplateSource(rootdir=root, inputs=tuple(files), command=command.strip() if command else None)


def template_source_with(source: TemplateSource, files: List[str]) -> TemplateSource:
    """``source`` whose hash also covers ``files`` (the hook implementations' source files)."""
    extra = {Path(f).resolve() for f in files} - set(source.inputs)
    inputs = tuple(sorted({*source.inputs, *extra}, key=lambda f: str(f)))
    # Only the migrations' own .sql files are applied: a hook's file is hashed, never run as SQL.
    return TemplateSource(rootdir=source.rootdir, inputs=inputs, command=source.command, applied=source.sql_files)


def template_hash(source: TemplateSource, server_version: str) -> str:
    """Every input of the template: the server version, the command, each file's path and bytes."""
    digest = hashlib.sha256(f"{HASH_VERSION}\nserver {server_version}\ncommand {source.command or ''}\n".encode())
    for path in source.inputs:
        digest.update(f"file {source.relative(path)}\n".encode())
        digest.update(path.read_bytes())
        digest.update(b"\n")
    return digest.hexdigest()[:32]


def _connection_url(session: PgrigSession, config: dict) -> str:
    return database_url(session.server.url, config["database"], config["username"], config["password"])


def _apply_sql(source: TemplateSource, url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for path in source.sql_files:
            text = path.read_text()
            try:
                conn.execute(text)
            except psycopg.Error as error:
                diag = error.diag
                where = ""
                if diag.statement_position:
                    where = f" at line {text[: int(diag.statement_position) - 1].count(chr(10)) + 1}"
                reason = (diag.message_primary or str(error)).strip().splitlines()[0]
                raise MigrationError(
                    f"pgrig: migration {source.relative(path)} failed{where}: {reason}; fix it and run pytest again"
                ) from None


_RAISED = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Failure|Exit)\b: ")
_FRAME = re.compile(r'File "([^"]+)", line (\d+)')


def _locate(source: TemplateSource, output: str) -> str:
    """The last traceback frame in the project's own files (not an installed package): the migration."""
    found = ""
    for path, line in _FRAME.findall(output):
        if "-packages" in path or not Path(path).is_absolute():
            continue
        rel = source.relative(path)
        if not rel.startswith("/"):
            found = f" at {rel} line {line}"
    return found


def _run_command(source: TemplateSource, url: str) -> None:
    parts = urlsplit(url)
    env = {
        **os.environ,
        # As in an activated virtualenv: `python`, `alembic` … are pytest's own first.
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
        "DATABASE_URL": url,
        "PGHOST": parts.hostname or "",
        "PGPORT": str(parts.port or 5432),
        "PGDATABASE": parts.path.lstrip("/"),
    }
    try:
        done = subprocess.run(
            shlex.split(source.command), cwd=str(source.rootdir), env=env, capture_output=True, text=True
        )
    except OSError as error:
        raise MigrationError(
            f"pgrig: the migrate command {source.command!r} could not start: {error.strerror}; fix pgrig_migrate_command"
        ) from None
    if done.returncode != 0:
        output = done.stderr + "\n" + done.stdout
        lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        # A Python tool's last exception line says more than its footer ("Background on this error …").
        raised = [line for line in lines if _RAISED.match(line)]
        last = raised[-1] if raised else lines[-1] if lines else "(no output)"
        raise MigrationError(
            f"pgrig: the migrate command {source.command!r} failed (exit {done.returncode})"
            f"{_locate(source, output)}: {last[:500]}"
        )


def ensure_template(
    api: Api, session: PgrigSession, source: TemplateSource, server_version: str, migrate_hook=None
) -> str:
    """The template's hash, built first when no run on this server built it (POST, migrate, PUT)."""
    hash_ = template_hash(source, server_version)
    status, body = api.request("POST", "/templates", {"hash": hash_})
    if status == 423:  # built already: by an earlier run on this server, another worker, another pytest
        return hash_
    if status != 200:
        raise PgrigStartError(f"pgrig: the API refused the template ({status}): {message_of(body)}")
    url = _connection_url(session, body["database"]["config"])
    try:
        if source.command:
            _run_command(source, url)
        else:
            _apply_sql(source, url)
        if migrate_hook is not None:
            try:
                migrate_hook(url)
            except Exception as error:
                trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
                where = _locate(source, trace)
                first = str(error).strip().splitlines()[0] if str(error).strip() else ""
                raise MigrationError(
                    f"pgrig: pytest_pgrig_template failed{where}: {type(error).__name__}: {first}"
                ) from None
    except BaseException:
        api.request("DELETE", f"/templates/{hash_}")
        raise
    status, body = api.request("PUT", f"/templates/{hash_}")
    if status != 204:
        raise PgrigStartError(f"pgrig: the API did not finalize the template ({status}): {message_of(body)}")
    return hash_
