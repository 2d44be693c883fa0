"""pytest-pgrig: servers, the pool and a database per test, through the project's pgrig.

Installed, plain ``pytest`` starts what the suite needs once per session (``pgrig serve``: the config's
servers, its services and the IntegreSQL pool), or reuses what ``pgrig run --serve`` exported. Under
pytest-xdist the controller starts it before the workers, which reuse it (see ``session.py``).
"""

from __future__ import annotations

import inspect
import os
from contextlib import contextmanager
from typing import Dict, Iterator, Optional

import pytest

from . import session as _session
from .session import PgrigSession, PgrigStartError, ServerInfo, database_url, postgresql_url
from .template import Api, MigrationError, ensure_template, message_of, template_source, template_source_with

ISOLATIONS = {
    "database": "a fresh database per test (the default)",
    "transaction": "pgrig_db in a transaction rolled back after the test, on one database per worker",
}
#: Fixtures that need the session's pgrig, and those that need the template too.
SESSION_FIXTURES = {"pgrig_session", "pgrig_server", "pgrig_servers", "pgrig_redis", "pgrig_redis_url"}
TEMPLATE_FIXTURES = {"pgrig_template", "pgrig_db_url", "pgrig_db", "pgrig_superuser_url", "pgrig_database"}
TEST_ENV = ("DATABASE_URL", "PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE")


def pytest_addhooks(pluginmanager):
    from . import hooks

    pluginmanager.add_hookspecs(hooks)


def pytest_addoption(parser):
    group = parser.getgroup("pgrig", "pgrig: real PostgreSQL for every test")
    group.addoption("--pgrig-bin", help="how to run pgrig (default: the project's node_modules/pgrig, or PGRIG_BIN)")
    group.addoption("--pgrig-config", help="the pgrig config file (default: pgrig.config.* in the rootdir)")
    group.addoption(
        "--pgrig-isolation",
        help="database (a fresh database per test, the default) | transaction (rolled back); ini pgrig_isolation",
    )
    parser.addini("pgrig_isolation", "database (default) | transaction", default="database")
    parser.addini(
        "pgrig_migrations",
        "the template's migrations: .sql files or folders (applied in name order), or what pgrig_migrate_command "
        "reads (default: migrations/, alembic/, alembic.ini where they exist)",
        type="linelist",
    )
    parser.addini(
        "pgrig_migrate_command",
        "a command that migrates the template, run in the rootdir with DATABASE_URL set (e.g. alembic upgrade head)",
    )


def _isolation(value: str, source: str) -> str:
    if value not in ISOLATIONS:
        modes = "; ".join(f"{name}: {what}" for name, what in ISOLATIONS.items())
        raise pytest.UsageError(f"pgrig: {source}={value} is not an isolation mode pytest-pgrig offers; use {modes}")
    return value


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "pgrig_isolation(mode): this test's isolation, database or transaction (see --pgrig-isolation)"
    )
    option = config.getoption("pgrig_isolation")
    config._pgrig_isolation = (
        _isolation(option, "--pgrig-isolation")
        if option
        else _isolation(config.getini("pgrig_isolation") or "database", "pgrig_isolation")
    )
    config._pgrig = _State(config)


class _State:
    """This process's view: the session, the API, the template, what it changed in os.environ."""

    def __init__(self, config):
        self.config = config
        self.session: Optional[PgrigSession] = None
        self.api: Optional[Api] = None
        self.template: Optional[str] = None
        self.version: Optional[str] = None
        self.error: Optional[str] = None
        self.saved_env: Dict[str, Optional[str]] = {}
        self.worker_db: Optional[dict] = None
        self.worker_conn = None

    @property
    def rootdir(self):
        return self.config.rootpath

    def uses_pgrig(self) -> bool:
        """The project uses pgrig: a config, a pgrig in node_modules, PGRIG_BIN, or one running."""
        if self.config.getoption("pgrig_bin") or os.environ.get("PGRIG_BIN") or _session.from_env():
            return True
        if _session.config_path(self.rootdir, self.config.getoption("pgrig_config")):
            return True
        return any((d / "node_modules" / "pgrig").exists() for d in (self.rootdir, *self.rootdir.parents))

    def ensure_session(self) -> PgrigSession:
        if self.session is not None:
            return self.session
        if self.error:
            raise PgrigStartError(self.error)
        try:
            found = _session.from_env()
            if found is not None:
                self.session = found
            else:
                command = _session.pgrig_command(self.rootdir, self.config.getoption("pgrig_bin"))
                cfg = _session.config_path(self.rootdir, self.config.getoption("pgrig_config"))
                superuser = _run_superuser_url()
                if superuser:
                    # Under `pgrig run` without --serve (the version matrix, say): only a pool, over the
                    # run's server. The pool holds no app role there: it hands out the superuser's.
                    started = _session.start(self.rootdir, command, cfg, ["--url", superuser, "--allow-external"])
                    started.env = {**_session.from_env({**os.environ, "INTEGRESQL_CLIENT_BASE_URL": "-"}).env}
                else:
                    started = _session.start(self.rootdir, command, cfg)
                self.session = started
                self.export(started.to_env())
        except PgrigStartError as error:
            self.error = str(error)
            raise
        _session._set_current(self.session)
        return self.session

    def export(self, env: Dict[str, str]) -> None:
        """What pgrig run would export, into this process (xdist workers and subprocesses inherit it)."""
        for key, value in env.items():
            self.saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def ensure_template(self) -> str:
        if self.template is not None:
            return self.template
        session = self.ensure_session()
        if self.error:
            raise MigrationError(self.error)
        try:
            self.api = self.api or Api(session.api_url)
            source = template_source(
                self.rootdir, self.config.getini("pgrig_migrations"), self.config.getini("pgrig_migrate_command")
            )
            hook = self.config.hook.pytest_pgrig_template
            impls = hook.get_hookimpls()
            code = [inspect.getsourcefile(impl.function) for impl in impls]
            source = template_source_with(source, [c for c in code if c])
            self.template = ensure_template(
                self.api,
                session,
                source,
                self.server_version(),
                (lambda url: hook(url=url, config=self.config)) if impls else None,
            )
        except (PgrigStartError, MigrationError) as error:
            self.error = str(error)
            raise
        return self.template

    def server_version(self) -> str:
        if self.version is None:
            import psycopg

            with psycopg.connect(self.ensure_session().server.url, connect_timeout=30) as conn:
                self.version = str(conn.execute("show server_version_num").fetchone()[0])
        return self.version

    def checkout(self) -> dict:
        """A fresh database of the template from the pool, for this holder only."""
        template = self.ensure_template()
        status, body = self.api.request("GET", f"/templates/{template}/tests")
        if status != 200:
            raise PgrigStartError(f"pgrig: no test database from the pool ({status}): {message_of(body)}")
        config = body["database"]["config"]
        url = database_url(self.session.server.url, config["database"], config["username"], config["password"])
        return {"id": body["id"], "name": config["database"], "url": url, "config": config}

    def give_back(self, database: dict) -> None:
        self.api.request("POST", f"/templates/{self.template}/tests/{database['id']}/recreate")

    def close(self) -> None:
        if self.worker_conn is not None:
            self.worker_conn.close()
        if self.worker_db is not None and self.api is not None:
            try:
                self.give_back(self.worker_db)
            except PgrigStartError:
                pass
        if self.api is not None:
            self.api.close()
        if self.session is not None and self.session.started:
            self.session.stop()
        for key, value in self.saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _session._set_current(None)


def session_for(config) -> PgrigSession:
    """The session's pgrig for other plugins (pytest_pgrig.report, .chaos): started (or found) on first call.
    Raises ``PgrigStartError`` (one line) when pgrig cannot be found or started."""
    return _state(config).ensure_session()


def _run_superuser_url() -> Optional[str]:
    """The superuser of the first server of the `pgrig run` this pytest runs under, if it does."""
    if not (os.environ.get("PGRIG_RUN_ID") and os.environ.get("DATABASE_URL")):
        return None
    first = os.environ["DATABASE_URL"]
    for key, value in os.environ.items():
        if key.startswith("PGRIG_") and key.endswith("_URL") and not key.endswith("_SUPERUSER_URL") and value == first:
            return os.environ.get(key[: -len("_URL")] + "_SUPERUSER_URL")
    return None


def _state(config) -> _State:
    return config._pgrig


def _is_xdist_controller(config) -> bool:
    return not hasattr(config, "workerinput") and bool(config.getoption("numprocesses", None))


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    """Under xdist, the controller starts pgrig and builds the template before any worker starts."""
    state = _state(session.config)
    if session.config.option.collectonly:
        return
    if _is_xdist_controller(session.config) and state.uses_pgrig():
        _start_or_usage_error(state, template=True)


def pytest_collection_finish(session):
    """Without xdist: started once collected, only when a test asks for a pgrig fixture."""
    state = _state(session.config)
    if hasattr(session.config, "workerinput") or session.config.option.collectonly:
        return
    names = set().union(*(getattr(item, "fixturenames", ()) for item in session.items)) if session.items else set()
    if names & TEMPLATE_FIXTURES:
        _start_or_usage_error(state, template=True)
    elif names & SESSION_FIXTURES:
        _start_or_usage_error(state, template=False)


def _start_or_usage_error(state: _State, template: bool) -> None:
    try:
        state.ensure_template() if template else state.ensure_session()
    except (PgrigStartError, MigrationError) as error:
        raise pytest.UsageError(str(error)) from None


def pytest_unconfigure(config):
    state = getattr(config, "_pgrig", None)
    if state is not None:
        state.close()


@contextmanager
def _one_line():
    """A pgrig failure inside a fixture: the test errors with the one line, no traceback."""
    try:
        yield
    except (PgrigStartError, MigrationError) as error:
        pytest.fail(str(error), pytrace=False)


@contextmanager
def _env(values: Dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _test_env(url: str, database: dict) -> Dict[str, str]:
    config = database["config"]
    return {
        "DATABASE_URL": url,
        "PGHOST": str(config["host"]),
        "PGPORT": str(config["port"]),
        "PGUSER": config["username"],
        "PGPASSWORD": config["password"],
        "PGDATABASE": config["database"],
    }


def _isolation_of(request) -> str:
    marker = request.node.get_closest_marker("pgrig_isolation")
    if marker is not None:
        try:
            return _isolation(marker.args[0] if marker.args else "", "pgrig_isolation marker")
        except pytest.UsageError as error:
            pytest.fail(str(error), pytrace=False)
    return request.config._pgrig_isolation


def _refuse_url_under_transaction(request, fixture: str) -> None:
    if _isolation_of(request) == "transaction":
        pytest.fail(
            f"pgrig: {fixture} is a URL other connections use, and transaction isolation rolls back only pgrig_db's "
            'one connection; use pgrig_db, or mark the test @pytest.mark.pgrig_isolation("database")',
            pytrace=False,
        )


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def pgrig_session(request) -> PgrigSession:
    """The session's pgrig: ``api_url``, ``env`` (what ``pgrig run`` exports), ``servers``, ``command``."""
    with _one_line():
        return _state(request.config).ensure_session()


@pytest.fixture(scope="session")
def pgrig_server(pgrig_session) -> ServerInfo:
    """The first server (``url``, ``superuser_url``, ``host``, ``port``, ``user``, ``password``, ``database``)."""
    return pgrig_session.server


@pytest.fixture(scope="session")
def pgrig_servers(pgrig_session) -> Dict[str, ServerInfo]:
    """Every server of the config by name (lower case, ``-`` as ``_``): e.g. ``pgrig_servers["tls"].url``."""
    return pgrig_session.servers


@pytest.fixture(scope="session")
def pgrig_template(request, pgrig_session) -> str:
    """The hash of the template built from the migrations (built once per server and inputs)."""
    with _one_line():
        return _state(request.config).ensure_template()


@pytest.fixture
def pgrig_database(request, pgrig_template) -> Iterator[dict]:
    """The test's database: ``{"name", "url", "id", "config"}``; under transaction isolation, the worker's."""
    state = _state(request.config)
    with _one_line():
        if _isolation_of(request) == "transaction":
            if state.worker_db is None:
                state.worker_db = state.checkout()
            yield state.worker_db
            return
        database = state.checkout()
    try:
        yield database
    finally:
        with _one_line():
            state.give_back(database)


@pytest.fixture
def pgrig_db_url(request, pgrig_database) -> Iterator[str]:
    """The test's own database, a ``postgresql://`` URL, also in ``DATABASE_URL`` and ``PG*`` for the test."""
    _refuse_url_under_transaction(request, "pgrig_db_url")
    url = pgrig_database["url"]
    with _env(_test_env(url, pgrig_database)):
        yield url


@pytest.fixture
def pgrig_superuser_url(request, pgrig_database, pgrig_server) -> str:
    """The superuser, connected to the test's own database (for what the app role may not do)."""
    _refuse_url_under_transaction(request, "pgrig_superuser_url")
    if not pgrig_server.superuser_url:
        pytest.fail("pgrig: the server is external (--url): pgrig holds no superuser of it", pytrace=False)
    return database_url(pgrig_server.superuser_url, pgrig_database["name"])


@pytest.fixture
def pgrig_db(request, pgrig_database):
    """A ready psycopg connection to the test's database: autocommit on (a fresh database per test); under
    transaction isolation, autocommit off, inside a transaction rolled back after the test (commit() refused)."""
    import psycopg

    if _isolation_of(request) != "transaction":
        with _env(_test_env(pgrig_database["url"], pgrig_database)):
            with psycopg.connect(pgrig_database["url"], autocommit=True) as conn:
                yield conn
        return
    state = _state(request.config)
    if state.worker_conn is None or state.worker_conn.closed:
        state.worker_conn = psycopg.connect(pgrig_database["url"])
    conn = state.worker_conn
    with conn.transaction(force_rollback=True):
        yield conn


def _worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker[2:]) if worker[2:].isdigit() else 0


@pytest.fixture
def pgrig_redis_url(pgrig_session) -> Iterator[str]:
    """This worker's logical database of the config's Redis (``REDIS_URL``), also in ``REDIS_URL`` for the test."""
    base = pgrig_session.env.get("REDIS_URL")
    if not base:
        pytest.fail(
            "pgrig: no Redis in the pgrig config: add a service that exports REDIS_URL "
            "(see python/README.md) to use pgrig_redis",
            pytrace=False,
        )
    url = base.rstrip("/").rsplit("/", 1)[0] if base.count("/") > 2 else base.rstrip("/")
    url = f"{url}/{_worker_index() % 16}"
    with _env({"REDIS_URL": url}):
        yield url


@pytest.fixture
def pgrig_redis(pgrig_redis_url):
    """A redis-py client on this worker's logical database, flushed before the test."""
    import redis

    client = redis.Redis.from_url(pgrig_redis_url)
    client.flushdb()
    try:
        yield client
    finally:
        client.close()


__all__ = ["PgrigSession", "ServerInfo", "database_url", "postgresql_url", "session_for"]
