"""``python -m rollcall_local <command>``: see rollcall_local's docstring, or ``--help``."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from types import ModuleType

from rollcall_local.commands import COMMANDS
from rollcall_local.config import LocalConfig, make_private
from rollcall_local.errors import LocalError


def parser() -> tuple[argparse.ArgumentParser, dict[str, ModuleType]]:
    main_parser = argparse.ArgumentParser(
        prog="python -m rollcall_local", description="Rollcall's local stack (the stand-in for sam local)."
    )
    subparsers = main_parser.add_subparsers(dest="command", required=True, metavar="command")
    modules = {}
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        doc = (module.__doc__ or name).strip()
        sub = subparsers.add_parser(
            name,
            help=doc.splitlines()[0],
            description=doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
        modules[name] = module
    return main_parser, modules


def main(argv: list[str] | None = None) -> int:
    main_parser, modules = parser()
    args = main_parser.parse_args(argv)
    make_private(LocalConfig.from_env(os.environ).local_dir)
    try:
        status: int = modules[args.command].main(args)
    except LocalError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
