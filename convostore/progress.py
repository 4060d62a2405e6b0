"""Progress of long management commands: a bar on a terminal, plain periodic lines in logs, counted summaries."""

from __future__ import annotations

import sys
import time
from typing import Callable, Iterable, Iterator, TextIO

from tqdm import tqdm

LOG_INTERVAL_SECONDS = 10.0
PLURALS = {"summary": "summaries", "memory": "memories", "entry": "entries"}


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """``counted(1, "conversation")`` → "1 conversation"; ``counted(0, "summary")`` → "0 summaries"."""
    if number == 1:
        return f"{number} {noun}"
    return f"{number} {plural or PLURALS.get(noun) or noun + 's'}"


class Progress:
    """Work done so far, shown as a tqdm bar when ``stream`` is a terminal, else as a plain line every ``interval`` s.

    Plain lines look like ``archive: 120/500 conversations (24%)``; they never contain ``\\r``, so log
    files stay readable. ``disable`` shows nothing (verbosity 0). ``clock`` is injectable for tests.
    """

    def __init__(self, description: str, *, total: int | None = None, noun: str = "conversation",
                 stream: TextIO | None = None, disable: bool = False, interval: float = LOG_INTERVAL_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self.description, self.total, self.noun = description, total, noun
        self.stream = stream or sys.stderr
        self.done = 0
        self.clock, self.interval = clock, interval
        self.disable = disable
        self.last_line = clock()
        terminal = not disable and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.bar = tqdm(total=total, desc=description, unit=noun, file=self.stream, dynamic_ncols=True) if terminal else None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def update(self, number: int = 1) -> None:
        """``number`` more units done (a lifecycle service's ``progress`` callback)."""
        self.done += number
        if self.bar is not None:
            self.bar.update(number)
        elif not self.disable and self.clock() - self.last_line >= self.interval:
            self.line()

    def iterate(self, work: Iterable) -> Iterator:
        """Yield from ``work``, counting one unit per element."""
        for element in work:
            yield element
            self.update()

    def line(self) -> None:
        of = f"/{self.total}" if self.total is not None else ""
        share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        noun = PLURALS.get(self.noun) or self.noun + "s"
        self.stream.write(f"{self.description}: {self.done}{of} {noun}{share}\n")
        self.stream.flush()
        self.last_line = self.clock()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def command_progress(command, description: str, *, total: int | None = None, noun: str = "conversation",
                     **options) -> Progress:
    """A Progress on a management command's stderr (stdout stays for results), silent at ``-v 0``."""
    stream = getattr(command.stderr, "_out", command.stderr)  # the raw stream: OutputWrapper would append newlines
    return Progress(description, total=total, noun=noun, stream=stream, disable=options.get("verbosity", 1) == 0)
