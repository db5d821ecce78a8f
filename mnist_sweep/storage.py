"""Optuna storages from the URL in ``hydra.sweeper.storage``: which engine, which driver, and one
clear line when it cannot be opened.

* ``sqlite:///studies/widths.db`` — one file on a local disk; several processes on one machine
  share it. Never on NFS or another network filesystem (SQLite's locks are not safe there).
* ``journal:///shared/studies/widths.log`` — Optuna's journal file (``JournalStorage``): no server,
  for a cluster whose nodes share a filesystem; appends under a file lock.
* ``postgresql://user:password@host/db`` (or any SQLAlchemy RDB URL) — a database server shared by
  any number of workers on any number of machines. PostgreSQL needs the ``postgres`` extra
  (psycopg 3): ``pip install -e '.[postgres]'``.

RDB storages get Optuna's heartbeat: a trial whose process stopped beating for two intervals is
failed by the next process that opens the study, and re-tried once. ``open_study`` opens a
finished or running study for reading (the report, the confirmation), refusing a storage that does
not exist rather than creating one.
"""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import sys
import time
import warnings
from contextlib import suppress
from pathlib import Path

import optuna
from optuna.exceptions import ExperimentalWarning
from optuna.storages import (
    BaseStorage,
    JournalStorage,
    RDBStorage,
    RetryHeartbeatStaleTrialCallback,
)
from optuna.storages.journal import JournalFileBackend
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from mnist_sweep.artifacts import write_atomic
from mnist_sweep.errors import ConfigError, UserError

JOURNAL = "journal://"
ATTEMPTS = 3  # processes that create a new RDB storage at once race; the losers try again
CONNECT_TIMEOUT = 5  # seconds to reach a database server before giving up
POSTGRES_EXTRA = "pip install -e '.[postgres]'"
REPAIR = "python -m mnist_sweep.storage repair"
REPAIRED = ".repaired"  # what a repaired journal's name adds before its suffix
SQLITE_HEADER = b"SQLite format 3\x00"  # the first bytes of every SQLite database file
TORN_RECHECK_SECONDS = 0.5  # a writer may be appending a record: its tail is looked at twice


def hide_password(url: str) -> str:
    """The URL as it may be shown in a log or an error."""
    if url.startswith(JOURNAL):
        return url
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can parse: show it as given
        return url


def _rdb_url(url: str) -> str:
    """``postgresql://`` with the installed driver: SQLAlchemy picks psycopg2 by default, the
    ``postgres`` extra installs psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql" and importlib.util.find_spec("psycopg2") is None:
        if importlib.util.find_spec("psycopg") is None:
            raise ConfigError(
                f"hydra.sweeper.storage={hide_password(url)!r} needs a PostgreSQL driver, "
                f"and none is installed; install the extra: {POSTGRES_EXTRA}"
            )
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def open_storage(url: str, heartbeat_interval: int | None = None) -> BaseStorage:
    """The storage behind ``url``; raises ConfigError naming the URL (password hidden) and why."""
    shown = hide_password(url)
    try:
        if url.startswith(JOURNAL):
            path = Path(url[len(JOURNAL) :])
            if url.endswith("/") or path.is_dir():
                raise ValueError("a journal URL names a file: journal:///path/to/study.log")
            check_journal(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            return JournalStorage(JournalFileBackend(str(path)))
        rdb = _rdb_url(url)
        parsed = make_url(rdb)
        engine_kwargs = {}
        if parsed.get_backend_name() == "sqlite":
            if parsed.database not in (None, "", ":memory:"):
                check_sqlite(Path(parsed.database))
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        else:
            engine_kwargs = {"connect_args": {"connect_timeout": CONNECT_TIMEOUT}}
        with warnings.catch_warnings():  # Optuna calls heartbeats experimental: nothing to do
            warnings.simplefilter("ignore", ExperimentalWarning)
            return _rdb_storage(rdb, engine_kwargs, heartbeat_interval)
    except ConfigError:
        raise
    except Exception as exc:  # any way a storage can fail: syntax, driver, network, disk
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reason = (lines[0] if lines else type(exc).__name__).rstrip(".")
        raise ConfigError(
            f"hydra.sweeper.storage={shown!r} could not be opened: {type(exc).__name__}: "
            f"{reason}. Use sqlite:///path/to/study.db (a local disk), "
            "journal:///shared/path/study.log (a shared filesystem, no server) or an RDB URL such "
            f"as postgresql://user:password@host/db (its driver installed: {POSTGRES_EXTRA})."
        ) from exc


def _rdb_storage(rdb: str, engine_kwargs: dict, heartbeat_interval: int | None) -> RDBStorage:
    """An RDB storage, with heartbeats when ``heartbeat_interval`` is set; a server that is
    busy starting is tried again."""
    heartbeat = {}
    if heartbeat_interval:
        heartbeat = {
            "heartbeat_interval": heartbeat_interval,
            "grace_period": 2 * heartbeat_interval,
            "heartbeat_stale_trial_callback": RetryHeartbeatStaleTrialCallback(max_retry=1),
        }
    for attempt in range(1, ATTEMPTS):
        try:
            return RDBStorage(rdb, engine_kwargs=engine_kwargs, **heartbeat)
        except DBAPIError as exc:
            if "password" in str(exc) or "could not" in str(exc):
                raise  # a wrong password or an unreachable host does not get better
            time.sleep(attempt)
    return RDBStorage(rdb, engine_kwargs=engine_kwargs, **heartbeat)


class StudyError(UserError):
    """A storage URL that cannot be opened, or a study it does not hold."""


def _check_exists(url: str) -> None:
    """Refuse a SQLite or journal file that does not exist, or a SQLite file without Optuna's
    tables: opening it through Optuna would create one, or add its tables to another database."""
    if url.startswith(JOURNAL):
        path = Path(url[len(JOURNAL) :])
        if not path.is_file():
            raise StudyError(f"{url!r}: {path} does not exist; give the journal a sweep wrote.")
        return
    try:
        parsed = make_url(url)
    except Exception as exc:  # not a URL at all
        raise StudyError(
            f"{url!r} is not a storage URL ({exc}); give an Optuna storage URL such as "
            "sqlite:///studies/widths.db, or a run or sweep folder."
        ) from exc
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    shown = hide_password(url)
    path = Path(parsed.database)
    if not path.is_file():
        raise StudyError(f"{shown!r}: {path} does not exist; give the .db a sweep wrote.")
    try:
        with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as db:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.Error as exc:
        raise StudyError(f"{shown!r}: {path} is not a SQLite database ({exc}).") from exc
    if "studies" not in tables:
        raise StudyError(f"{shown!r}: {path} holds no Optuna study (no 'studies' table).")


def open_study(url: str, name: str | None = None) -> optuna.Study:
    """Load study ``name`` from the storage at ``url`` (the only one there when None): SQLite,
    a journal file or any RDB URL, as ``hydra.sweeper.storage`` takes them."""
    _check_exists(url)
    shown = hide_password(url)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "Using an existing study" lines
    try:
        opened = open_storage(url)
        names = optuna.get_all_study_names(storage=opened)
        if name is None and len(names) == 1:
            name = names[0]
        if name in names:
            return optuna.load_study(study_name=name, storage=opened)
    except ConfigError as exc:  # open_storage's one line: which URL, why, what works
        raise StudyError(str(exc).replace("hydra.sweeper.storage=", "", 1)) from exc
    except Exception as exc:  # any way a storage can fail: syntax, driver, network, schema
        raise StudyError(
            f"{shown!r} could not be opened as an Optuna storage: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        optuna.logging.set_verbosity(verbosity)
    if not names:
        raise StudyError(f"{shown} holds no study yet; run a search that stores it there.")
    held = ", ".join(sorted(names))
    if name is None:
        raise StudyError(f"{shown} holds {held}; choose one with --study NAME.")
    raise StudyError(f"{shown} holds no study {name!r} (it holds {held}); fix --study.")


def _first_torn_record(path: Path) -> tuple[int, int] | None:
    """The number (from 1) of the first record of a journal file that does not read back as a
    whole JSON line, and how many lines it has; None when every record reads back."""
    with path.open("rb") as f:
        lines = f.readlines()
    for number, line in enumerate(lines, 1):
        try:
            if not line.endswith(b"\n"):
                raise ValueError("no line end")
            json.loads(line)
        except ValueError:
            return number, len(lines)
    return None


def check_journal(path: Path) -> None:
    """Refuse, before anything is appended to it, a journal file with a torn record (a crash,
    a full disk or a copy cut it short): Optuna would append after the torn line, and no reader
    could read the study again."""
    if not path.is_file():
        return
    torn = _first_torn_record(path)
    if torn is not None:  # a record being appended by another worker reads torn for a moment
        time.sleep(TORN_RECHECK_SECONDS)
        torn = _first_torn_record(path)
    if torn is not None:
        number, total = torn
        raise ConfigError(
            f"the journal file {path} is torn at record {number} of {total} (cut short by a "
            "crash, a full disk or a copy) and was left unchanged; recover its complete records "
            f"into a new file with: {REPAIR} {path} (the original is kept), then point "
            "hydra.sweeper.storage at the new file."
        )


def repair_journal(path: Path) -> Path:
    """Copy the records of a torn journal file that read back, up to its first torn one, into
    a new file beside it (``NAME.repaired.log``); the original stays as it is. Returns the new
    file; raises ConfigError, writing nothing, for a file that is not a journal (a SQLite study,
    anything else), one with nothing to repair or nothing to recover, or when the new file
    exists."""
    if not path.is_file():
        raise ConfigError(f"{path} is not a file; give the journal file of a study.")
    with path.open("rb") as f:
        head = f.read(len(SQLITE_HEADER))
    if head == SQLITE_HEADER:
        check_sqlite(path)  # a damaged one is named, with SQLite's own recovery
        raise ConfigError(
            f"{path} is a SQLite study file, not a journal, and SQLite reads it whole: it needs "
            f"no repair; use it as it is (hydra.sweeper.storage=sqlite:///{path})."
        )
    if not _is_journal(path):
        raise ConfigError(
            f"{path} is not an Optuna journal file (its first line is not a journal record); "
            "give the .log file that hydra.sweeper.storage=journal://… writes."
        )
    if _first_torn_record(path) is None:
        raise ConfigError(f"{path} has no torn record; it needs no repair.")
    target = path.with_name(f"{path.stem}{REPAIRED}{path.suffix}")
    if target.exists():
        raise ConfigError(f"{target} already exists; move it away to repair {path} again.")
    records = []
    with suppress(ValueError):  # Optuna's reader: every complete record, then the torn one
        records.extend(JournalFileBackend(str(path)).read_logs(0))
    if not records:
        raise ConfigError(
            f"{path} has no complete journal record to recover (its first record is torn); "
            "nothing was written."
        )
    write_atomic(target, "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))
    return target


def _is_journal(path: Path) -> bool:
    """Whether the file's first line is (or begins, when torn) an Optuna journal record."""
    with path.open("rb") as f:
        first = f.readline()
    try:
        record = json.loads(first)
    except ValueError:
        return first.startswith(b'{"op_code"')  # a first record cut short
    return isinstance(record, dict) and "op_code" in record


def check_sqlite(path: Path) -> None:
    """Refuse, before anything is written to it, a SQLite study file that SQLite itself finds
    damaged (its quick check, read-only)."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    try:
        with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as db:
            result = db.execute("PRAGMA quick_check").fetchall()
        db.close()
        problem = None if result == [("ok",)] else str(result[0][0])
    except sqlite3.Error as exc:
        problem = str(exc)
    if problem:
        raise ConfigError(
            f"the SQLite study file {path} is damaged ({problem}) and was left unchanged; "
            "restore it from a backup, or recover what SQLite can still read into a new file "
            f"(the original is kept): sqlite3 {path} .recover | sqlite3 NEW.db"
        )


def main(argv: list[str]) -> int:
    """``python -m mnist_sweep.storage repair JOURNAL``: recover a torn journal file."""
    if len(argv) != 2 or argv[0] != "repair":
        print(f"usage: {REPAIR} path/to/study.log", file=sys.stderr)
        return 2
    try:
        target = repair_journal(Path(argv[1]))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {target}; point hydra.sweeper.storage at journal://{target.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
