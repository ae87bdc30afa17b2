"""The jars the job ships with it: the job's Java module and the runtime jars beside it.

The Java module (``udfs/java``) is a Maven project. ``make jar`` (``mvn package``) builds
``udfs/java/target/trend-tracker-udfs.jar`` and copies the jars the job needs with it into
``udfs/java/target/lib/``: the Kafka SQL connector.
This module only finds them; it builds nothing.

A deployment with a prebuilt jar names it with ``TREND_UDF_JAR`` (``Settings.udf_jar``); the
jars of a ``lib/`` directory beside it are shipped with it, when there is one. The Flink
image has none: it puts the connector into ``/opt/flink/lib``, where every
JobManager and TaskManager loads them, and ships only the module's jar with the job.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
JAVA_ROOT = PROJECT_ROOT / "udfs" / "java"
POM = JAVA_ROOT / "pom.xml"
JAR_NAME = "trend-tracker-udfs.jar"
#: Where ``mvn package`` puts the module's jar; its runtime jars are in ``lib/`` beside it.
DEFAULT_JAR = JAVA_ROOT / "target" / JAR_NAME
#: The jars of ``lib/`` the job cannot run without (file name prefixes).
REQUIRED_LIBS = ("flink-sql-connector-kafka-",)
BUILD_HINT = "run `make jar` (mvn -f udfs/java/pom.xml package -DskipTests)"


class MissingJarError(FileNotFoundError):
    """A jar the job ships is not there: the Java module is not built."""


def lib_dir(jar: Path) -> Path:
    """The directory of the runtime jars shipped beside ``jar``."""
    return jar.parent / "lib"


def job_jars(configured: str | Path | None = None) -> list[Path]:
    """Every jar the job ships, the module's first: absolute paths.

    ``configured`` (``Settings.udf_jar``) names a prebuilt jar: it and the jars of a
    ``lib/`` beside it, if any. Without it, the jars ``make jar`` built under
    ``udfs/java/target``, which must include the connector. Raises
    :class:`MissingJarError` when a jar is missing.
    """
    if configured:
        jar = Path(configured)
        if not jar.is_file():
            raise MissingJarError(f"udf_jar {jar} (TREND_UDF_JAR) does not exist")
        return [jar.resolve(), *_libs(jar)]
    jar = DEFAULT_JAR
    if not jar.is_file():
        raise MissingJarError(f"the job's Java module is not built ({jar} is missing): "
                              f"{BUILD_HINT}")
    libs = _libs(jar)
    missing = [prefix for prefix in REQUIRED_LIBS
               if not any(path.name.startswith(prefix) for path in libs)]
    if missing:
        raise MissingJarError(f"{lib_dir(jar)} has no {' or '.join(missing)}*.jar: "
                              f"{BUILD_HINT}")
    _warn_if_stale(jar)
    return [jar, *libs]


def udf_jar(configured: str | Path | None = None) -> Path:
    """The Java module's jar alone (see :func:`job_jars`)."""
    return job_jars(configured)[0]


def _libs(jar: Path) -> list[Path]:
    directory = lib_dir(jar)
    return sorted(path.resolve() for path in directory.glob("*.jar")) if directory.is_dir() \
        else []


def _warn_if_stale(jar: Path) -> None:
    built = jar.stat().st_mtime
    newer = [path for path in (POM, *JAVA_ROOT.glob("src/main/**/*")) if path.is_file()
             and path.stat().st_mtime > built]
    if newer:
        log.warning("%s is older than %s: %s", jar.name,
                    newer[0].relative_to(PROJECT_ROOT), BUILD_HINT)


def main() -> int:
    """``python -m trend_tracker.jars``: print the jars the job ships, one a line."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        for path in job_jars():
            print(path)
    except MissingJarError as exc:
        print(exc)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
