"""Print a dev token the local functions accept: make token ROLE=teacher ORG=demo SUB=alice

Signed with the local secret (.local/jwt-secret) for the template's JwtIssuer and JwtAudience.
"""

from __future__ import annotations

import argparse

from rollcall_local.devauth import ROLES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--role", choices=ROLES, default="teacher")
    parser.add_argument("--org", default="demo")
    parser.add_argument("--sub", default="alice")


def main(args: argparse.Namespace) -> int:
    from rollcall_local.config import LocalConfig
    from rollcall_local.session import load_template, token_for

    config = LocalConfig.from_env()
    print(token_for(config, load_template(config), role=args.role, org=args.org, sub=args.sub))
    return 0
