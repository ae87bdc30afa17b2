"""Where the CPU goes during a live benchmark, to explain a missed goal with a profile.

Over one span (``--profile-s`` of the live benchmarks):

- every process the benchmark started (the job's JVM and Python processes, the simulator,
  the API, the broker, Redis, ...): CPU seconds from ``/proc``, grouped by role, beside the
  whole machine's busy CPU (the rest is other work on a shared machine);
- the job's JVM (the MiniCluster) by thread, from ``/proc/<pid>/task``: task threads, garbage
  collection, the JIT compiler;
- the job's JVM sampled by Java Flight Recorder (``jcmd <pid> JFR.start``, the ``profile``
  settings, one sample per running Java thread every 10-20 ms): samples by thread (Flink
  names a task thread after its operator chain) and the top frames, self (the method
  running) and in the project's own Java code (``dev.trendtracker``, inclusive).

The JVM is found among the job's own process group, so nothing else is attached to.
Flink's REST profiler (``rest.profiling.enabled``) needs the job's configuration and the
MiniCluster's REST port, which the embedded job does not expose; JFR needs neither.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

TICKS_PER_S = os.sysconf("SC_CLK_TCK")
#: Frames of the project's own Java code.
OWN_PACKAGE = "dev.trendtracker."
TOP = 12
#: Stack depth kept from each sample when the recording is read.
STACK_DEPTH = 48


def _stat(path: Path) -> tuple[str, int, int, float] | None:
    """(comm, ppid, pgid, CPU seconds) of a process or thread from its ``stat`` file."""
    try:
        text = path.read_text()
    except OSError:
        return None
    comm = text[text.index("(") + 1:text.rindex(")")]
    fields = text[text.rindex(")") + 2:].split()
    return comm, int(fields[1]), int(fields[2]), (int(fields[11]) + int(fields[12])) / TICKS_PER_S


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace")
    except OSError:
        return ""


def processes() -> dict[int, tuple[str, int, int, float]]:
    """Every process of the machine this user can see: pid -> (comm, ppid, pgid, CPU s)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(entry / "stat")) is not None:
            found[int(entry.name)] = stat
    return found


def descendants(table: dict[int, tuple[str, int, int, float]], root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, (_, ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = {root}, [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def role(pid: int, comm: str, job_group: int) -> str:
    """What a process of the benchmark is, from its command line."""
    command = _cmdline(pid)
    words = command.split()
    if pid == os.getpid():
        return "benchmark (pollers)"
    if "kafka.Kafka" in words:
        return "broker (Kafka)"
    if comm == "java":
        return "job JVM (MiniCluster)" if "PythonGatewayServer" in command else "other JVM"
    module = words[words.index("-m") + 1] if "-m" in words[:-1] else ""
    program = Path(words[0]).name if words else comm
    if module == "jobs.trending":
        return "job driver (Python)"
    if module.startswith("pyflink") or "beam" in module or "pyflink" in " ".join(words):
        return "job Python worker (window sink)"
    if module == "trend_tracker.cli" and "simulate" in words:
        return "simulator"
    if module == "api":
        return "API"
    for needle, name in (("redis-server", "Redis"),
                         ("moto", "S3 endpoint"), ("mlflow", "MLflow"),
                         ("gunicorn", "MLflow"), ("uvicorn", "MLflow"),
                         ("jcmd", "profiler (jcmd)")):
        if needle in program or needle in comm:
            return name
    with contextlib.suppress(OSError):
        if os.getpgid(pid) == job_group:
            return "job (other)"
    return comm


def machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy (all cores), from ``/proc/stat``."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / TICKS_PER_S


def job_jvm(job_group: int) -> int | None:
    """The MiniCluster's JVM among the job's process group."""
    for pid, (comm, _, pgid, _) in processes().items():
        if pgid == job_group and comm == "java" and "PythonGatewayServer" in _cmdline(pid):
            return pid
    return None


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of a JVM's threads, grouped by name with numbers removed (the kernel
    keeps 15 characters of a thread's name)."""
    groups: Counter[str] = Counter()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        if (stat := _stat(task / "stat")) is not None:
            groups[re.sub(r"[#\d]+", "N", stat[0]).strip()] += stat[3]
    return dict(groups)


def _frame(frame: dict[str, Any]) -> str:
    method = frame["method"]
    return f"{method['type']['name'].replace('/', '.')}.{method['name']}"


def _thread(name: str) -> str:
    """A task thread's operator chain without its subtask and attempt (``(1/2)#0``)."""
    return re.sub(r"\s*\(\d+/\d+\)(#\d+)?$", "", name)


def summarise_recording(path: Path, top: int = TOP) -> dict[str, Any]:
    """Samples by thread, top frames (self) and top project frames (inclusive)."""
    jfr = shutil.which("jfr") or "jfr"
    out = subprocess.run([jfr, "print", "--json", "--events", "jdk.ExecutionSample",
                          "--stack-depth", str(STACK_DEPTH), str(path)],
                         capture_output=True, check=True, timeout=600).stdout
    events = json.loads(out)["recording"]["events"]
    by_thread: Counter[str] = Counter()
    self_frames: Counter[str] = Counter()
    own_frames: Counter[str] = Counter()
    for event in events:
        values = event["values"]
        thread = values.get("sampledThread") or {}
        by_thread[_thread(thread.get("javaName") or thread.get("osName") or "?")] += 1
        frames = [_frame(f) for f in (values.get("stackTrace") or {}).get("frames", [])]
        if frames:
            self_frames[frames[0]] += 1
        for name in dict.fromkeys(f for f in frames if f.startswith(OWN_PACKAGE)):
            own_frames[name] += 1
    total = len(events)

    def shares(counter: Counter[str]) -> list[dict[str, Any]]:
        return [{"name": name, "samples": n, "share": round(n / total, 3)}
                for name, n in counter.most_common(top)]

    return {"samples": total, "by_thread": shares(by_thread), "top_self_frames":
            shares(self_frames), "top_project_frames_inclusive": shares(own_frames)}


class Profile:
    """One profile span of a live benchmark's job (see the module docstring)."""

    def __init__(self, job: subprocess.Popen, out_dir: Path, seconds: float) -> None:
        self.job_group = job.pid  # spawned as the leader of a process group of its own
        self.seconds = seconds
        self.recording = out_dir / f"job-{int(time.time())}.jfr"
        self.started: float | None = None
        self.error: str | None = None
        self.jvm: int | None = None
        self.before: tuple | None = None
        self.after: tuple | None = None
        self.jcmd: subprocess.Popen | None = None

    def _snapshot(self) -> tuple[float, float, dict[int, tuple[str, float]],
                                 dict[str, float]]:
        table = processes()
        ours = {pid: (role(pid, table[pid][0], self.job_group), table[pid][3])
                for pid in descendants(table, os.getpid())}
        threads = thread_cpu(self.jvm) if self.jvm else {}
        return time.monotonic(), machine_busy_s(), ours, threads

    def start(self) -> None:
        """Snapshot the CPU counters and start the recording (it ends by itself; ``jcmd``
        runs in the background, so that its start does not hold up the caller)."""
        self.jvm = job_jvm(self.job_group)
        self.before = self._snapshot()
        self.started = time.monotonic()
        if self.jvm is None:
            self.error = "the job's JVM was not found"
            return
        self.recording.parent.mkdir(parents=True, exist_ok=True)
        self.jcmd = subprocess.Popen(
            ["jcmd", str(self.jvm), "JFR.start", "name=trend-benchmark", "settings=profile",
             f"duration={max(1, round(self.seconds))}s", f"filename={self.recording}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def due(self) -> bool:
        return self.started is not None and time.monotonic() - self.started >= self.seconds

    def stop(self) -> None:
        """Snapshot the CPU counters at the span's end."""
        self.after = self._snapshot()

    def summary(self) -> dict[str, Any]:
        """The span's CPU by role, the JVM's by thread, and the recording's summary (read
        after the run, so that reading it does not load the measured span)."""
        if self.before is None:
            return {"error": "the profile did not start"}
        if self.after is None:
            self.stop()
        (t0, busy0, procs0, threads0), (t1, busy1, procs1, threads1) = self.before, self.after
        span = t1 - t0
        roles: Counter[str] = Counter()
        for pid, (name, cpu) in procs1.items():
            used = cpu - procs0.get(pid, (name, 0.0))[1]
            if used > 0:
                roles[name] += used
        ours = sum(roles.values())
        machine_busy = busy1 - busy0
        result: dict[str, Any] = {
            "span_s": round(span, 1),
            "machine_cores_busy": round(machine_busy / span, 2),
            "benchmark_cores": round(ours / span, 2),
            "other_work_cores": round(max(0.0, machine_busy - ours) / span, 2),
            "cores_by_process": {name: round(cpu / span, 2) for name, cpu
                                 in roles.most_common() if cpu / span >= 0.005},
            "job_jvm_cores_by_thread": {
                name: round((cpu - threads0.get(name, 0.0)) / span, 2) for name, cpu in
                sorted(threads1.items(), key=lambda kv: threads0.get(kv[0], 0.0) - kv[1])
                if (cpu - threads0.get(name, 0.0)) / span >= 0.01},
        }
        if self.jcmd is not None:
            out, _ = self.jcmd.communicate(timeout=120)
            if self.jcmd.returncode != 0 or "Started recording" not in out:
                self.error = f"JFR.start failed: {out[-500:]}"
        if self.error:
            result["jfr_error"] = self.error
        elif self.recording.is_file():
            result["jfr"] = summarise_recording(self.recording)
        else:
            result["jfr_error"] = "no recording written (the job stopped before its end?)"
        return result
