"""Errors a user can fix: each carries one readable paragraph and never needs a traceback; and
the stop signals an entry point turns into :class:`Interrupted`."""

import signal


class UserError(Exception):
    """Base of every error caused by input the user can change (config, paths, data)."""


class ConfigError(UserError, ValueError):
    """A config value is out of range, of the wrong type, or not one of the allowed choices."""


class BudgetError(UserError):
    """The run asks for more parameters or epochs than the budget allows."""


class DataError(UserError, RuntimeError):
    """MNIST could not be made available; the message says what was tried."""


class DivergedError(UserError):
    """Training stopped because its loss became NaN or infinite; the run's files say so."""


class ClaimError(UserError):
    """The run or sweep folder is held by another live process."""


class WriteError(UserError, OSError):
    """A file could not be written (a full disk, a read-only or over-quota filesystem, lost
    permission); the message names the file, the error and what to do."""


class Interrupted(KeyboardInterrupt):
    """SIGINT (Ctrl-C) or SIGTERM arrived: the run stops, keeping what it finished."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def stop_on_signals() -> None:
    """Make SIGINT (Ctrl-C) and SIGTERM raise :class:`Interrupted` in the main thread, so a run
    stops as ``interrupted`` with its finished epochs kept. A signal the process was started
    ignoring (Ctrl-C in a background job) stays ignored."""
    for stop in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(stop) is not signal.SIG_IGN:
            signal.signal(stop, _interrupt)


def _interrupt(signum: int, frame: object) -> None:
    raise Interrupted(signum)


def exit_status(exc: KeyboardInterrupt) -> int:
    """The shell's status for a process stopped by a signal: 128 + its number (130, 143)."""
    return 128 + (exc.signum if isinstance(exc, Interrupted) else signal.SIGINT)


def signal_name(exc: KeyboardInterrupt) -> str:
    """``SIGINT`` or ``SIGTERM``: the signal that stopped the process."""
    return signal.Signals(exit_status(exc) - 128).name
