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


class SourceError(SkelvisError):
    """Raw data cannot be obtained (download, checksum, archive): the message says what failed and what to do."""


class ModelImportError(SkelvisError, ValueError):
    """A model file cannot be turned into a recurrent classifier; the message names the file and the fix."""


class SaliencyInputError(SkelvisError, ValueError):
    """A unit, class, mode or input shape does not fit the model; the message names both sizes."""


class DatasetProblems(SkelvisError, ValueError):
    """Everything wrong with a dataset folder, found in one pass (``findings``: one line each,
    ``<file>[:<line>]: <problem>; <fix>``), so that one run lists them all."""

    def __init__(self, root, findings):
        self.root, self.findings = root, list(findings)
        n = len(self.findings)
        lines = "\n".join(f"  - {f}" for f in self.findings)
        super().__init__(f"{root}: {n} problem{'s' if n != 1 else ''} to fix before this dataset can be "
                         f"prepared (check again without the workflow: skelvis-check {root}):\n{lines}")


class DamagedInput(SkelvisError, ValueError):
    """An existing stage file is truncated, corrupted or foreign: found before any job that
    depends on it runs (so none of their outputs is deleted); the message says how to rebuild it."""
