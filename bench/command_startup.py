"""Start-up cost of a management command (`manage.py evict --help`): wall and CPU seconds, and the heaviest imports.

The floor is `django.setup()` alone with the same settings; the goal is under 1 s of CPU. Run with
`make bench BENCH=command_startup` (or `python bench/command_startup.py` with DATABASE_URL/REDIS_URL set).
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import ROOT, markdown_table, write_result  # noqa: E402

RUNS = 7
COMMAND = [sys.executable, str(ROOT / "manage.py"), "evict", "--help"]
FLOOR = [sys.executable, "-c", "import django; django.setup()"]


def measure(argv: list[str]) -> dict:
    """Median wall and CPU (user + sys of the child) seconds over RUNS runs."""
    env = dict(os.environ, DJANGO_SETTINGS_MODULE=os.environ.get("DJANGO_SETTINGS_MODULE", "convostore.settings.base"))
    walls, cpus = [], []
    for _ in range(RUNS):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(argv, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return {"wall_s": round(statistics.median(walls), 3), "cpu_s": round(statistics.median(cpus), 3)}


def heaviest_imports(limit: int = 10) -> list[tuple[str, float]]:
    """Top-level imports by cumulative time (python -X importtime), in ms."""
    trace = subprocess.run([sys.executable, "-X", "importtime", *COMMAND[1:]], cwd=ROOT, capture_output=True, text=True).stderr
    rows = []
    for line in trace.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[2].startswith(" ") and not parts[2].startswith("  ") and parts[1].strip().isdigit():
            rows.append((parts[2].strip(), int(parts[1]) / 1000))
    return sorted(rows, key=lambda row: -row[1])[:limit]


def main() -> None:
    command, floor = measure(COMMAND), measure(FLOOR)
    imports = heaviest_imports()
    print(markdown_table(["run", "wall s (median)", "CPU s (median)"],
                         [["django.setup() only", floor["wall_s"], floor["cpu_s"]],
                          ["manage.py evict --help", command["wall_s"], command["cpu_s"]]]))
    print(markdown_table(["top-level import", "cumulative ms"], [[name, f"{ms:.0f}"] for name, ms in imports]))
    write_result("command_startup", {"command": command, "django_setup_floor": floor, "goal_cpu_s": 1.0,
                                     "met": command["cpu_s"] <= 1.0, "heaviest_imports": imports})


if __name__ == "__main__":
    main()
