"""The base of every error archgan reports to a user: the CLI prints these as one clear message
(no traceback) and exits with status 1."""


class ArchganError(Exception):
    """A problem with the user's input (a file, a flag, a folder), described in the message."""
