"""The process that runs one function, as the Lambda python3.12 runtime does. Standard library only.

Started by :mod:`rollcall_local.invoke` as::

    python -I -S bootstrap.py <reply-fd> <sys.path entries as a JSON list>

``-I -S``: no site-packages, no PYTHON* variables, no script folder on the path. The path is the
standard library, after the entries given (code folder, layers, runtime folder; see
rollcall_local.runtime). The handler (``_HANDLER``) is imported once (the init phase), then the
worker serves invocations until its stdin closes, like a warm Lambda container.

Protocol, one JSON document per line. On <reply-fd> the worker writes ``{"type": "ready",
"init_ms"}`` or ``{"type": "init_error", "error"}``; then for each request ``{"request_id",
"deadline_ms", "invoked_arn", "event"}`` read from stdin it writes ``{"type": "result",
"payload"}`` or ``{"type": "error", "error"}``. Errors have Lambda's shape: ``errorMessage``,
``errorType``, ``requestId``, ``stackTrace``. The function's own output (print, logging) goes to
the worker's stdout and stderr, which is the function's log, with Lambda's START/END/REPORT lines.
"""

import decimal
import importlib
import io
import json
import logging
import os
import resource
import sys
import time
import traceback


class Fault(Exception):
    """An error of the runtime itself (Runtime.ImportModuleError...), not of the function."""

    def __init__(self, error_type, message, trace=None):
        super().__init__(message)
        self.error_type = error_type
        self.trace = trace or []


class LambdaContext:
    """The context object Lambda passes to the handler (same attributes, same types)."""

    def __init__(self, request_id, deadline_ms, invoked_arn):
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_arn
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
        self.memory_limit_in_mb = os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
        self.log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        return max(0, int(self._deadline_ms - time.time() * 1000))

    def log(self, message):
        sys.stdout.write(message)


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record):
        record.aws_request_id = self.request_id
        return True


def _setup_logging():
    """The root logger as Lambda sets it up: ``[LEVEL] time request-id message`` on the log."""
    logging.Formatter.converter = time.gmtime
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    request_ids = _RequestIdFilter()
    handler.addFilter(request_ids)
    logging.getLogger().addHandler(handler)
    return request_ids


def _error(exc, request_id, error_type=None, message=None, trace=None):
    if trace is None:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]
        trace = traceback.format_list(frames)
    return {
        "errorMessage": str(exc) if message is None else message,
        "errorType": error_type or type(exc).__name__,
        "requestId": request_id,
        "stackTrace": trace,
    }


def _log_error(error):
    print(f"[ERROR] {error['errorType']}: {error['errorMessage']}", "".join(error["stackTrace"]), sep="\n")


def load_handler(spec):
    """The handler function, or a Fault with the error type Lambda reports."""
    module_name, _, function_name = spec.rpartition(".")
    if not module_name:
        raise Fault("Runtime.MalformedHandlerName", f"Bad handler '{spec}': not enough values to unpack")
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise Fault(
            "Runtime.BuiltInModuleConflict", f"Cannot use built-in module {module_name} as a handler module"
        )
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as e:
        raise Fault("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {e}") from e
    except SyntaxError as e:
        trace = [f'  File "{e.filename}" Line {e.lineno}\n    {e.text}']
        raise Fault(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {e}", trace
        ) from e
    handler = getattr(module, function_name, None)
    if handler is None:
        raise Fault("Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'")
    return handler


def _json_default(value):
    if isinstance(value, decimal.Decimal):  # as Lambda's runtime serialises Decimal
        return float(value) if value % 1 else int(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


class Worker:
    def __init__(self, reply_fd):
        self.reply = os.fdopen(reply_fd, "wb", buffering=0)
        self.request_ids = _setup_logging()
        self.init_ms = None

    def send(self, message):
        self.reply.write(json.dumps(message, default=_json_default).encode() + b"\n")

    def init(self):
        started = time.monotonic()
        try:
            handler = load_handler(os.environ["_HANDLER"])
        except Fault as fault:
            error = _error(fault, "", fault.error_type, str(fault), fault.trace)
        except Exception as e:
            error = _error(e, "")
        else:
            self.init_ms = (time.monotonic() - started) * 1000
            self.send({"type": "ready", "init_ms": self.init_ms})
            return handler
        _log_error(error)
        self.send({"type": "init_error", "error": error})
        return None

    def invoke(self, handler, request):
        request_id = request["request_id"]
        self.request_ids.request_id = request_id
        print(f"START RequestId: {request_id} Version: {os.environ['AWS_LAMBDA_FUNCTION_VERSION']}")
        started = time.monotonic()
        context = LambdaContext(request_id, request["deadline_ms"], request["invoked_arn"])
        try:
            payload = handler(request["event"], context)
            try:
                self.send({"type": "result", "payload": payload})
            except (TypeError, ValueError) as e:
                raise Fault("Runtime.MarshalError", f"Unable to marshal response: {e}") from e
        except Fault as fault:
            error = _error(fault, request_id, fault.error_type, str(fault), [])
            _log_error(error)
            self.send({"type": "error", "error": error})
        except Exception as e:
            error = _error(e, request_id)
            _log_error(error)
            self.send({"type": "error", "error": error})
        self._report(request_id, (time.monotonic() - started) * 1000)

    def _report(self, request_id, duration_ms):
        memory = os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
        used = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        line = (
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {int(duration_ms) + 1} ms\tMemory Size: {memory} MB\t"
            f"Max Memory Used: {used} MB"
        )
        if self.init_ms is not None:
            line += f"\tInit Duration: {self.init_ms:.2f} ms"
            self.init_ms = None
        print(f"END RequestId: {request_id}", line, sep="\n")


def main():
    reply_fd, path = int(sys.argv[1]), json.loads(sys.argv[2])
    sys.argv = sys.argv[:1]
    sys.path[:0] = path
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(line_buffering=True)
    worker = Worker(reply_fd)
    handler = worker.init()
    if handler is None:
        return 1
    for line in sys.stdin.buffer:
        worker.invoke(handler, json.loads(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
