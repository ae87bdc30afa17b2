"""The job's Java module: compiled from ``udfs/java`` with ``javac``, packed into one jar.

The hot path of the job (event decoding, scoring and ranking) is Java, compiled from source
against the jars that the ``apache-flink`` wheel ships in ``pyflink/lib``; no Maven and no
download is involved. :func:`ensure_udf_jar` builds the jar into ``build/java`` when it is
missing or older than any of its sources, and every way of running the job calls it
(``trend job run``, ``trend job submit``, the tests). A deployment that ships a prebuilt
jar (the Flink image) names it with ``TREND_UDF_JAR`` instead.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
JAVA_ROOT = PROJECT_ROOT / "udfs" / "java"
SOURCE_DIR = JAVA_ROOT / "src"
RESOURCE_DIR = JAVA_ROOT / "resources"
JAR_NAME = "trend-tracker-udfs.jar"
DEFAULT_JAR = PROJECT_ROOT / "build" / "java" / JAR_NAME
#: Bytecode level: Flink 2.0 runs on Java 17 and 21.
JAVA_RELEASE = "17"


class JavaBuildError(RuntimeError):
    """The Java module cannot be built (no compiler, or the sources do not compile)."""


def flink_lib_dir() -> Path:
    """``pyflink/lib`` of the installed wheel: the compile classpath."""
    import pyflink

    return Path(pyflink.__file__).resolve().parent / "lib"


def javac() -> str:
    """The Java compiler: ``$JAVA_HOME/bin/javac``, else ``javac`` on PATH."""
    home = os.environ.get("JAVA_HOME")
    candidates = [str(Path(home, "bin", "javac"))] if home else []
    candidates.append(shutil.which("javac") or "")
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise JavaBuildError(
        "no Java compiler (javac) found; install it with: "
        "sudo apt-get install openjdk-17-jdk-headless")


def _files(root: Path, suffix: str | None = None) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*")
                  if p.is_file() and (suffix is None or p.suffix == suffix))


def sources() -> list[Path]:
    """Every Java source file of the module."""
    return _files(SOURCE_DIR, ".java")


def is_stale(jar: Path) -> bool:
    """True when ``jar`` is missing or older than a source or resource file."""
    if not jar.is_file():
        return True
    built = jar.stat().st_mtime
    return any(p.stat().st_mtime > built for p in (*sources(), *_files(RESOURCE_DIR)))


def build_jar(jar: Path = DEFAULT_JAR) -> Path:
    """Compile every source and pack classes and resources into ``jar`` (replaced whole)."""
    files = sources()
    if not files:
        raise JavaBuildError(f"no Java sources under {SOURCE_DIR}")
    classpath = str(flink_lib_dir() / "*")
    jar.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="trend-javac-") as tmp:
        classes = Path(tmp, "classes")
        command = [javac(), "--release", JAVA_RELEASE, "-encoding", "UTF-8", "-nowarn",
                   "-cp", classpath, "-d", str(classes), *map(str, files)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise JavaBuildError(f"javac failed:\n{done.stdout}{done.stderr}")
        # Written beside the jar, then renamed over it: a job starting meanwhile reads the
        # old jar or the new one, never half of one.
        partial = jar.with_name(f".{jar.name}.{os.getpid()}.partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as out:
            out.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\n\r\n")
            for root in (classes, RESOURCE_DIR):
                for path in _files(root):
                    out.write(path, path.relative_to(root).as_posix())
        os.replace(partial, jar)
    log.info("built %s from %d Java sources", jar, len(files))
    return jar


def ensure_udf_jar(configured: str | Path | None = None) -> Path:
    """The job's jar, built first when missing or stale.

    ``configured`` (``Settings.udf_jar``) names a prebuilt jar, used as it is. Without it,
    the default jar is rebuilt from the sources when they are newer; a checkout with a jar
    but no compiler keeps using the jar it has.
    """
    if configured:
        jar = Path(configured)
        if not jar.is_file():
            raise JavaBuildError(f"udf_jar {jar} does not exist")
        return jar.resolve()
    if is_stale(DEFAULT_JAR):
        build_jar(DEFAULT_JAR)
    return DEFAULT_JAR


def main() -> int:
    """``python -m trend_tracker.udf_jar``: build the jar if needed and print its path."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        print(ensure_udf_jar())
    except JavaBuildError as exc:
        print(exc)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
