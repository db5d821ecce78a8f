"""Errors a user can fix: each carries one readable paragraph and never needs a traceback."""


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
