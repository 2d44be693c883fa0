"""pytest-pgrig: markers as pgrig's categories, policy and timeouts; pgrig's results and reports.

The policy comes from the project's pgrig config, read by pgrig itself (``pgrig report policy``);
at the end of the run the results go to ``pgrig report write``, which adds the environment (the
servers, their versions and settings), hides passwords and writes results.json, report.md and
report.html into the report folder (``PGRIG_REPORT_DIR``, which ``pgrig run --pg 15,16,17`` sets
per version and then merges). pytest's own JUnit XML goes to the same folder.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Dict, Iterator, List, Optional

import pytest

from . import session

RESULTS_SCHEMA = "pgrig-results"
RESULTS_VERSION = 1
MARKER = "pgrig_category"
_CATEGORY_IN_NAME = re.compile(r"\[([a-z][a-z0-9_-]*)\]")
_PROPERTY = "pgrig_categories"


# --- finding pgrig --------------------------------------------------------------------------------


def pgrig_command(rootdir: str, given: Optional[str] = None) -> Optional[List[str]]:
    """The project's pgrig as session.py finds it, but never npx: None when the project has none (the
    report part then stays out of the way of a suite that does not use pgrig)."""
    try:
        return session.pgrig_command(rootdir, given, npx=False)
    except session.PgrigStartError:
        return None


def _run_pgrig(command: List[str], args: List[str], cwd: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(command + args, cwd=cwd, capture_output=True, text=True, timeout=120)
    except OSError as error:
        raise pytest.UsageError(
            f"pgrig: cannot run {shlex.join(command)} ({error.strerror}); fix --pgrig-bin / PGRIG_BIN, "
            "or npm install -D pgrig in the project"
        ) from None


def _one_line(stderr: str, fallback: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else fallback


# --- the policy (as src/report/categories.ts applies it) ------------------------------------------


def skip_reason(categories: List[str], policy: Dict[str, Any]) -> Optional[str]:
    """Why a test with these categories must not run under the policy and selection, or None."""
    skipped = next((c for c in categories if c in policy["skipSelected"]), None)
    if skipped:
        return f"pgrig: category {skipped} skipped (--skip {skipped})"
    only = policy["only"]
    run_all = "all" in only
    if only and not run_all and not any(c in only for c in categories):
        return f"pgrig: not in the selected categories (--only {','.join(only)})"
    unasked = next((c for c in categories if c in policy["skip"] and not run_all and c not in only), None)
    if unasked:
        return f"pgrig: {unasked} tests run only when asked (--only {unasked})"
    return None


def failure_allowed(categories: List[str], policy: Dict[str, Any]) -> bool:
    """Allowed when the test is in an allowed-to-fail category and in no must-pass one."""
    if any(c in policy["mustPass"] for c in categories):
        return False
    return any(c in policy["allowedToFail"] for c in categories)


def timeout_of(categories: List[str], policy: Dict[str, Any]) -> Optional[int]:
    """The test's timeout in ms: the longest of its categories' timeouts (a slow test stays slow)."""
    found = [policy["timeouts"][c] for c in categories if c in policy["timeouts"]]
    return max(found) if found else None


# --- passwords on the console ---------------------------------------------------------------------

_URL_USERINFO = re.compile(r"\b([a-z][a-z0-9+.-]*://[^\s'\"`<>:/@\[\]]*):([^\s'\"`<>@]*)@", re.I)
_BARE_PASSWORD = re.compile(r"(password=)(?![\"'`])[^\s&'\"`]+", re.I)
_QUOTED_PASSWORD = re.compile(r"(password\b[\"']?\s*[:=]\s*)([\"'`])((?:\\.|(?!\2)[^\\])*)\2", re.I)


def _env_passwords() -> List[str]:
    found = set()
    for key, value in os.environ.items():
        if not value:
            continue
        if key == "PGPASSWORD" or (key.startswith("PGRIG_") and key.endswith("_PASSWORD")):
            found.add(value)
        if key == "DATABASE_URL" or (key.startswith("PGRIG_") and key.endswith("_URL")):
            match = _URL_USERINFO.search(value)
            if match and match.group(2):
                found.add(match.group(2))
    return sorted((p for p in found if len(p) >= 6), key=len, reverse=True)


def redact(text: str) -> str:
    """URL passwords, ``password=…`` / ``password: '…'`` and the run's passwords as ``***``.

    The files pgrig writes go through pgrig's own redactor too (which also knows the passwords of
    every server of the user's runs); this one guards what pytest prints and its JUnit XML."""
    text = _URL_USERINFO.sub(lambda m: f"{m.group(1)}:***@", text)
    text = _QUOTED_PASSWORD.sub(lambda m: f"{m.group(1)}{m.group(2)}***{m.group(2)}", text)
    text = _BARE_PASSWORD.sub(lambda m: f"{m.group(1)}***", text)
    for password in _env_passwords():
        text = text.replace(password, "***")
    return text


# --- the plugin -----------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pgrig-report", "pgrig: categories, policy and reports")
    group.addoption(
        "--pgrig-only",
        default=None,
        help="run only tests in these pgrig categories (comma list, or all); default: PGRIG_ONLY",
    )
    group.addoption(
        "--pgrig-skip",
        default=None,
        help="leave out tests in these pgrig categories (comma list); default: PGRIG_SKIP",
    )
    group.addoption(
        "--pgrig-report-dir",
        default=None,
        help="folder for results.json, report.md, report.html, junit.xml; default: PGRIG_REPORT_DIR, else pgrig-report",
    )


class PgrigTimeout(pytest.fail.Exception):  # type: ignore[misc, name-defined]
    """What a test that ran past its category's timeout fails with (raised where the test was)."""


class PgrigReport:
    def __init__(self, config: pytest.Config, command: Optional[List[str]], policy: Dict[str, Any]):
        self.config = config
        self.command = command
        self.policy = policy["policy"]
        self.categories = {c["name"]: c for c in policy["categories"]}
        self.started = time.time()
        self.tests: Dict[str, Dict[str, Any]] = {}
        self.order: List[str] = []
        self.outside: List[Dict[str, Any]] = []
        self.deadline: Optional[float] = None
        self.worker = hasattr(config, "workerinput")
        rootdir = str(config.rootpath)
        option = config.getoption("pgrig_report_dir")
        self.report_dir = os.path.abspath(
            os.path.join(rootdir, option or os.environ.get("PGRIG_REPORT_DIR") or "pgrig-report")
        )
        for name, category in self.categories.items():
            description = category.get("description") or "a category of the pgrig policy"
            config.addinivalue_line("markers", f"{name}: pgrig category: {description}")

    # -- categories, selection, timeouts (where the tests run: the process, or each xdist worker) --

    def categories_of(self, item: pytest.Item) -> List[str]:
        found = set()
        for marker in item.iter_markers():
            if marker.name == MARKER:
                for name in marker.args:
                    if name not in self.categories:
                        known = ", ".join(self.categories)
                        raise pytest.UsageError(
                            f'pgrig: {item.nodeid}: category "{name}" is not defined (known: {known}); '
                            "add it to policy.categories in the pgrig config, or fix the marker"
                        )
                    found.add(name)
            elif marker.name in self.categories:
                found.add(marker.name)
        for part in item.nodeid.split("::")[1:]:
            for match in _CATEGORY_IN_NAME.finditer(part):
                if match.group(1) in self.categories:
                    found.add(match.group(1))
        return sorted(found)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: List[pytest.Item]) -> None:
        timed = False
        for item in items:
            categories = self.categories_of(item)
            item.user_properties.append((_PROPERTY, ",".join(categories)))
            reason = skip_reason(categories, self.policy)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))
            timeout = timeout_of(categories, self.policy)
            if timeout is not None:
                item.stash[_timeout_key] = timeout
                timed = True
        if timed and not hasattr(signal, "setitimer"):
            raise pytest.UsageError(
                f"pgrig: category timeouts need SIGALRM, which {platform.system()} lacks; "
                "remove policy.timeouts for this platform or run the suite on Linux or macOS"
            )

    def _arm(self, item: pytest.Item) -> None:
        timeout = item.stash.get(_timeout_key, None)
        if timeout is None or self.deadline is None:
            return
        if threading.current_thread() is not threading.main_thread():
            return
        remaining = self.deadline - time.monotonic()
        categories = [c for c in self.categories_of(item) if c in self.policy["timeouts"]]

        def expired(signum: int, frame: Any) -> None:
            __tracebackhide__ = True
            raise PgrigTimeout(
                f"pgrig: timed out after {timeout} ms (the timeout of category {', '.join(categories)}, "
                "policy.timeouts in the pgrig config)",
                pytrace=True,
            )

        signal.signal(signal.SIGALRM, expired)
        if remaining <= 0:
            expired(signal.SIGALRM, None)
        signal.setitimer(signal.ITIMER_REAL, remaining)

    @staticmethod
    def _disarm() -> None:
        if hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():
            signal.setitimer(signal.ITIMER_REAL, 0)

    @contextlib.contextmanager
    def _timed(self, item: pytest.Item, new_budget: bool) -> Iterator[None]:
        if new_budget:
            timeout = item.stash.get(_timeout_key, None)
            self.deadline = time.monotonic() + timeout / 1000 if timeout is not None else None
        self._arm(item)
        try:
            yield
        finally:
            self._disarm()

    # Setup and the test share one budget, as a Vitest test and its fixtures do; teardown gets its
    # own: cut short, it would leave what the test made behind.
    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item):
        with self._timed(item, new_budget=True):
            yield

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item: pytest.Item):
        with self._timed(item, new_budget=False):
            yield

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item):
        with self._timed(item, new_budget=True):
            yield
        self.deadline = None

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        outcome = yield
        report = outcome.get_result()
        # Before any reporter (terminal, JUnit, xdist's controller) sees it: passwords hidden.
        if report.failed and report.longrepr is not None:
            report.longrepr = redact(str(report.longrepr))
        report.sections = [(title, redact(content)) for title, content in report.sections]

    # -- results (the process that reports: the only one, or xdist's controller) --

    def _test(self, report: pytest.TestReport) -> Dict[str, Any]:
        record = self.tests.get(report.nodeid)
        if record is None:
            parts = report.nodeid.split("::")
            props = dict(report.user_properties)
            categories = [c for c in str(props.get(_PROPERTY, "")).split(",") if c]
            record = {
                "id": report.nodeid,
                "file": report.location[0] if report.location else parts[0],
                "suite": parts[1:-1],
                "name": parts[-1],
                "categories": categories,
                "status": "passed",
                "durationMs": 0.0,
                "retries": 0,
                "flaky": False,
                "skipNote": None,
                "errors": [],
                "provisionMs": None,
                "serverLog": None,
                "keptDatabaseUrl": None,
            }
            self.tests[report.nodeid] = record
            self.order.append(report.nodeid)
        return record

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.worker:
            return
        record = self._test(report)
        record["durationMs"] = round(record["durationMs"] + report.duration * 1000, 1)
        props = dict(report.user_properties)
        # What plugin.py's fixtures attach (item.user_properties), named as the Vitest fixtures' task.meta.pgrig.
        for key, field in (
            ("pgrig_provision_ms", "provisionMs"),
            ("pgrig_server_log", "serverLog"),
            ("pgrig_kept_database_url", "keptDatabaseUrl"),
        ):
            if props.get(key) is not None:
                record[field] = props[key]
        if report.failed:
            record["status"] = "allowed-failure" if failure_allowed(record["categories"], self.policy) else "failed"
            record["errors"].append(_error(report))
        elif report.skipped and record["status"] == "passed":
            record["status"] = "skipped"
            if hasattr(report, "wasxfail"):
                record["skipNote"] = f"xfail: {report.wasxfail}" if report.wasxfail else "xfail"
            elif isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
                record["skipNote"] = re.sub(r"^Skipped: ", "", str(report.longrepr[2]))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if self.worker or not report.failed:
            return
        text = redact(str(report.longrepr))
        self.outside.append(
            {"name": "CollectionError", "message": f"{report.nodeid}: {_last_error_line(text)}", "diff": None, "stack": text}
        )

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.worker:
            return
        tests = [self.tests[n] for n in self.order]
        failed = any(t["status"] == "failed" for t in tests)
        allowed = sum(1 for t in tests if t["status"] == "allowed-failure")
        code = int(session.exitstatus)
        if code == int(pytest.ExitCode.INTERRUPTED):
            outcome = "interrupted"
        elif failed or self.outside or code not in (0, 1, 5):
            outcome = "failed"
        else:
            outcome = "passed"
        # pytest says 1 for any failure; failures the policy allows alone must not fail the run.
        if code == int(pytest.ExitCode.TESTS_FAILED) and outcome == "passed":
            session.exitstatus = pytest.ExitCode.OK
        self.outcome, self.allowed = outcome, allowed
        self.results = {
            "schema": RESULTS_SCHEMA,
            "version": RESULTS_VERSION,
            "createdAt": _iso(time.time()),
            "policy": self.policy,
            "runs": [
                {
                    "label": None,
                    "pgVersion": None,
                    "shards": [],
                    "startedAt": _iso(self.started),
                    "durationMs": round((time.time() - self.started) * 1000),
                    "outcome": outcome,
                    "environment": {
                        "runner": f"pytest {pytest.__version__} (Python {platform.python_version()})"
                    },
                    "tests": tests,
                    "unhandledErrors": self.outside,
                }
            ],
        }

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        # After junitxml wrote its file (its sessionfinish), so pgrig can hide passwords in it too.
        results = getattr(self, "results", None)
        if self.worker or results is None or self.command is None:
            return
        os.makedirs(self.report_dir, exist_ok=True)
        fd, raw = tempfile.mkstemp(prefix="pgrig-pytest-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(results, out)
            args = ["report", "write", raw, "--out", self.report_dir]
            junit = getattr(config.option, "xmlpath", None)
            if junit:
                args += ["--redact", os.path.abspath(junit)]
            done = _run_pgrig(self.command, args, str(config.rootpath))
        finally:
            os.unlink(raw)
        if done.returncode != 0:
            sys.stderr.write(_one_line(done.stderr, "pgrig: report write failed") + "\n")
            return
        line = _one_line(done.stderr, f"pgrig: report {self.report_dir}")
        if self.allowed:
            plural = "" if self.allowed == 1 else "s"
            line += f"; {self.allowed} failure{plural} allowed by the policy did not fail the run"
        sys.stderr.write(line + "\n")


_timeout_key = pytest.StashKey[int]()


def _iso(seconds: float) -> str:
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _last_error_line(text: str) -> str:
    errors = [line[1:].strip() for line in text.splitlines() if line.startswith("E ")]
    if errors:
        return "\n".join(errors)
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else text


def _error(report: pytest.TestReport) -> Dict[str, Any]:
    text = str(report.longrepr)
    message = _last_error_line(text)
    name = "Error"
    match = re.match(r"^([A-Za-z_][\w.]*(?:Error|Exception|Failed|Interrupt|Timeout|Exit)): ?(.*)", message, re.S)
    if match:
        name, message = match.group(1).split(".")[-1], match.group(2) or match.group(1)
    if report.when != "call":
        message = f"{report.when} failed: {message}"
    return {"name": name, "message": message, "diff": None, "stack": text}


def _selection(config: pytest.Config) -> List[str]:
    args = []
    for flag, env in (("only", "PGRIG_ONLY"), ("skip", "PGRIG_SKIP")):
        value = config.getoption(f"pgrig_{flag}") or os.environ.get(env)
        if value:
            args += [f"--{flag}", value]
    return args


def _load_policy(config: pytest.Config, command: List[str]) -> Dict[str, Any]:
    args = ["report", "policy", *_selection(config)]
    # plugin.py's --pgrig-config, when that module defines it; PGRIG_CONFIG either way.
    config_file = config.getoption("pgrig_config", None) or os.environ.get("PGRIG_CONFIG")
    if config_file:
        args += ["--config", config_file]
    done = _run_pgrig(command, args, str(config.rootpath))
    if done.returncode != 0:
        raise pytest.UsageError(_one_line(done.stderr, "pgrig report policy failed"))
    return json.loads(done.stdout)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}(*names): the test's pgrig categories (policy, --pgrig-only/--pgrig-skip)")
    worker_input = getattr(config, "workerinput", None)
    if worker_input is not None and "pgrig_policy" in worker_input:
        # An xdist worker: the controller read the policy once for every worker.
        config.pluginmanager.register(PgrigReport(config, None, worker_input["pgrig_policy"]), "pgrig-report")
        return
    command = pgrig_command(str(config.rootpath), config.getoption("pgrig_bin", None))
    if command is None:
        if _selection(config):
            raise pytest.UsageError(
                "pgrig: --pgrig-only/--pgrig-skip need pgrig to read the policy, and it was not found "
                "(PGRIG_BIN, node_modules/.bin/pgrig from the rootdir up, pgrig on PATH); npm install -D pgrig, or set PGRIG_BIN"
            )
        return
    policy = _load_policy(config, command)
    plugin = PgrigReport(config, command, policy)
    config.pluginmanager.register(plugin, "pgrig-report")
    if worker_input is None and not getattr(config.option, "xmlpath", None):
        # pytest's own JUnit XML, beside pgrig's reports (junitxml reads the option after this hook).
        config.option.xmlpath = os.path.join(plugin.report_dir, "junit.xml")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    plugin = node.config.pluginmanager.get_plugin("pgrig-report")
    if plugin is not None:
        node.workerinput["pgrig_policy"] = {"policy": plugin.policy, "categories": list(plugin.categories.values())}
