"""What the running stack prints: one line per invocation, and its own messages.

17:30:01  PredictFunction        http GET /health                     200      12 ms
17:30:05  TrainFunction          sqs rollcall-local-training          ok       840 ms  (1 record)
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


class Console:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream  # None: sys.stdout at the time of writing
        self._lock = threading.Lock()

    def _write(self, line: str) -> None:
        with self._lock:
            stream = self.stream or sys.stdout
            stream.write(line + "\n")
            stream.flush()

    def invocation(
        self, function: str, trigger: str, status: str | int, duration_ms: float, note: str = ""
    ) -> None:
        line = (
            f"{time.strftime('%H:%M:%S')}  {function:<22} {trigger:<36} {status!s:<7} {duration_ms:>6.0f} ms"
        )
        self._write(f"{line}  ({note})" if note else line)

    def info(self, message: str) -> None:
        self._write(message)
