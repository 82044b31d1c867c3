"""Progress on the terminal for long local work (seed, import, train, save, restore): done/total, rate, ETA.

One line, rewritten in place at most every ``interval`` seconds (from ``delay`` seconds on: work
that ends sooner shows nothing), on the given stream (stderr by
default, so the commands' JSON answers on stdout stay clean), and only when both stdout and that
stream are terminals: piped or redirected runs (CI, tests, ``> file``) print nothing. ``add`` is
thread-safe (the bulk writers call it from their threads); :meth:`Progress.callback` is what the
deployed code takes (a callable of a count), so nothing deployed imports this module.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def on_terminal(stream: TextIO) -> bool:
    """Whether progress is shown on ``stream``: it and stdout are both terminals."""
    return _is_tty(sys.stdout) and _is_tty(stream)


class Progress:
    def __init__(
        self,
        what: str,
        total: int,
        *,
        unit: str = "items",
        stream: TextIO | None = None,
        interval: float = 0.25,
        enabled: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        delay: float = 0.0,
    ) -> None:
        self.what, self.total, self.unit = what, max(0, total), unit
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled if enabled is not None else on_terminal(self.stream)
        self.interval, self.clock, self.delay = interval, clock, delay
        self.shown = False  # whether a line was written (``delay``: none for quick work)
        self.done = self.start = 0  # start: done before this line began (see from_done)
        self.started = clock()
        self._shown = float("-inf")
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self.done += n
            now = self.clock()
            if self.enabled and now - self._shown >= self.interval and now - self.started >= self.delay:
                self._shown, self.shown = now, True
                self._write("\r" + self.line(now) + "\033[K")

    def from_done(self, done: int) -> Progress:
        """The line of work followed from its middle (a job's counts), ``done`` already: the rate
        counts only what is done after."""
        self.done = self.start = max(0, done)
        return self

    @property
    def callback(self) -> Callable[[int], None]:
        return self.add

    def line(self, now: float | None = None) -> str:
        """``what: done/total unit (pct) rate/s, ETA m:ss`` as of ``now``."""
        elapsed = max(1e-9, (now if now is not None else self.clock()) - self.started)
        rate = (self.done - self.start) / elapsed
        parts = [f"{self.what}: {self.done:,}/{self.total:,} {self.unit}"]
        if self.total:
            parts.append(f"({100 * min(self.done, self.total) / self.total:.0f} %)")
        parts.append(f"{rate:,.0f}/s")
        if 0 < self.done < self.total and rate > 0:
            parts.append(f"ETA {_clock((self.total - self.done) / rate)}")
        else:
            parts.append(f"in {_clock(elapsed)}")
        return " ".join(parts)

    def finish(self) -> None:
        """The last line, kept on the terminal (none if ``delay`` passed before any line was shown)."""
        if self.enabled and (self.shown or self.clock() - self.started >= self.delay):
            self._write("\r" + self.line() + "\033[K\n")

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


def _clock(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"
