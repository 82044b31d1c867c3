"""The subcommands of ``python -m rollcall_local``: name → module.

A command module has a docstring (its first line is the help), ``add_arguments(parser)`` and
``main(args) -> int`` (the exit status). To add a command, write its module here and add a line
below. Command modules import heavy things inside ``main``: every module is imported to build
the help.
"""

COMMANDS = {
    "run": "rollcall_local.commands.run",
    "invoke": "rollcall_local.commands.invoke",
    "fire": "rollcall_local.commands.fire",
    "token": "rollcall_local.commands.token",
    "render-event": "rollcall_local.commands.render_event",
    "reset": "rollcall_local.commands.reset",
    "demo": "rollcall_local.commands.demo",
    "seed": "rollcall_local.commands.seed",
    "import": "rollcall_local.commands.import_",
    "train": "rollcall_local.commands.train",
    "metrics": "rollcall_local.commands.metrics",
}
