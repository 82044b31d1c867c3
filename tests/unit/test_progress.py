"""The progress line of the local commands: rate and time left on a terminal, nothing elsewhere."""

from __future__ import annotations

import io

from rollcall_local.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_line_shows_done_total_rate_and_time_left() -> None:
    now = [100.0]
    progress = Progress("seed", 1000, stream=Terminal(), enabled=True, clock=lambda: now[0])
    progress.add(250)
    now[0] = 105.0
    assert progress.line() == "seed: 250/1,000 items (25 %) 50/s ETA 0:15"


def test_on_a_terminal_it_rewrites_one_line_and_ends_with_the_total() -> None:
    now = [0.0]
    out = Terminal()
    progress = Progress("import", 100, unit="records", stream=out, enabled=True, clock=lambda: now[0])
    for _ in range(4):
        now[0] += 1
        progress.add(25)
    progress.finish()
    text = out.getvalue()
    assert text.count("\r") == 5 and text.endswith("\n")
    assert "import: 100/100 records (100 %) 25/s in 0:04" in text.splitlines()[-1]


def test_it_is_quiet_when_the_output_is_not_a_terminal() -> None:
    out = io.StringIO()  # a pipe or a file
    with Progress("seed", 10, stream=out) as progress:
        progress.add(10)
    assert out.getvalue() == ""


def test_with_a_delay_quick_work_shows_nothing_and_long_work_shows_its_line() -> None:
    now = [0.0]
    quick = Terminal()
    with Progress("save", 10, stream=quick, enabled=True, clock=lambda: now[0], delay=2) as progress:
        now[0] = 1.5
        progress.add(10)
    assert quick.getvalue() == ""
    now[0] = 0.0
    slow = Terminal()
    with Progress("restore", 10, stream=slow, enabled=True, clock=lambda: now[0], delay=2) as progress:
        now[0] = 1.0
        progress.add(5)
        now[0] = 3.0
        progress.add(5)
    assert slow.getvalue().splitlines()[-1].endswith("restore: 10/10 items (100 %) 3/s in 0:03\x1b[K")
