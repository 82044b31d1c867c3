"""HTTP routers and their schemas, one module per resource; each function's app.py mounts the
ones it serves (``rollcall.api.app.create_app``).

Routers authenticate and authorise the caller (``rollcall.api.access``: the only place where
authorisation is decided), parse and answer (Pydantic models in, Pydantic models out) and call
the services (``rollcall.services``); they hold no rules and never touch a store.
"""
