"""HTTP routers, one module per resource; each function's app.py mounts the ones it serves.

Routers parse and answer (Pydantic models in, Pydantic models out) and call one function of
the domain modules (``rollcall.services.students``, ``rollcall.services.marking``, ...); they hold no rules.
"""
