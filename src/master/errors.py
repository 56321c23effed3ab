"""Errors of the master daemon."""


class MasterError(Exception):
    """Base of the master's errors."""


class MasterStartError(MasterError):
    """The master cannot start: bad ROOTDIR, port in use, unreadable meta. The message is one line."""
