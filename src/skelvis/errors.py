"""Errors that carry a message a user can act on (the file, key or line, and the fix)."""


class SkelvisError(Exception):
    """Base class: the message names the problem and the fix, in one line."""


class DataFormatError(SkelvisError, ValueError):
    """An input file does not follow its format. Message: ``<file>:<line>: <problem>; <fix>``."""

    def __init__(self, path, problem, line=None, fix=None):
        where = f"{path}:{line}" if line is not None else f"{path}"
        msg = f"{where}: {problem}"
        if fix:
            msg += f"; {fix}"
        super().__init__(msg)
        self.path, self.line, self.problem = path, line, problem


class ConfigError(SkelvisError, ValueError):
    """A configuration value is wrong; the message names the key."""
