"""The local stack's errors meant for the user: the CLI prints their message, not a traceback."""


class LocalError(Exception):
    """Something to fix in the setup (a template construct, a port in use, a missing build...)."""
