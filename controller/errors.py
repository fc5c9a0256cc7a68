"""The controller's error tree, classified by what happens next (design guide §5).

    CronplaneError            root; ``str(e)`` is one line a person can act on
    ├── PermanentError        a person must fix something (invalid manifest, bad flag, bad ref)
    │   └── UsageError        a command line that cannot be run as given (exit 2)
    └── TemporaryError        retry later (Redis unavailable, git fetch failed)

Third-party exceptions are wrapped at the boundary with ``raise ... from e``. The CLI prints
``cronplane: <message>`` for any CronplaneError and never a traceback.
"""

from __future__ import annotations


class CronplaneError(Exception):
    exit_code = 1


class PermanentError(CronplaneError):
    pass


class UsageError(PermanentError):
    exit_code = 2


class TemporaryError(CronplaneError):
    pass
