"""Rollcall: the domain package shared by every function (deployed as the core layer).

Import nothing heavy here: importing a submodule imports this file first, on every cold start.
"""

__version__ = "0.1.0"
