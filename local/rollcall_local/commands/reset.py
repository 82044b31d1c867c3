"""Forget the local stack's saved state (.local/state): the next start has empty tables, buckets, queues."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def main(args: argparse.Namespace) -> int:
    from rollcall_local.config import LocalConfig
    from rollcall_local.emulator import listening
    from rollcall_local.state import reset

    config = LocalConfig.from_env()
    if listening(config.emulator_port):
        print(
            f"note: something listens on {config.emulator_port} (a running stack?); "
            "a stack saves its state again when it stops"
        )
    print(f"forgot the saved state in {config.state_dir}" if reset(config.state_dir) else "no saved state")
    return 0
