"""The jars the job ships with it: the job's Java module and the runtime jars beside it.

The Java module (``udfs/java``) is a Maven project. ``make jar`` (``mvn package``) builds
``udfs/java/target/trend-tracker-udfs.jar`` and copies the jars the job needs with it into
``udfs/java/target/lib/``: the Kafka SQL connector.
This module finds them, and loads the module's classes into the PyFlink client's JVM; it
builds nothing.

A deployment with a prebuilt jar names it with ``TREND_UDF_JAR`` (``Settings.udf_jar``); the
jars of a ``lib/`` directory beside it are shipped with it, when there is one. The Flink
image has none: it puts the connector into ``/opt/flink/lib``, where every
JobManager and TaskManager loads them, and ships only the module's jar with the job.
"""

from __future__ import annotations

import logging
from pathlib import Path

from trend_tracker.logs import configure_logging

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


class ModuleClass:
    """A class of the Java module in the PyFlink client's JVM: its static fields and methods
    as attributes, its constructor as a call.

    The class is loaded by a class loader of the module's jars made for it, not looked up by
    name through the gateway: that lookup uses the context class loader of the JVM thread
    serving the call, and the gateway serves a Python thread on any of its connections, whose
    threads need not have the jars (PyFlink adds them to one thread's loader only).
    Overloads are told apart by their number of arguments.
    """

    def __init__(self, name: str, configured: str | Path | None = None) -> None:
        from pyflink.java_gateway import get_gateway

        jvm = get_gateway().jvm
        self._jvm = jvm
        self._class = jvm.java.lang.Class.forName(name, True, _module_loader(
            tuple(path.as_uri() for path in job_jars(configured))))

    def __call__(self, *args: object) -> object:
        constructor = self._only(self._class.getConstructors(), "<init>", args)
        return _unwrapped(lambda: constructor.newInstance(self._array(args)))

    def __getattr__(self, name: str) -> object:
        if any(field.getName() == name for field in self._class.getFields()):
            return self._class.getField(name).get(None)
        methods = [method for method in self._class.getMethods() if method.getName() == name]
        if not methods:
            raise AttributeError(f"{self._class.getName()} has no public static {name}")
        return lambda *args: _unwrapped(
            lambda: self._only(methods, name, args).invoke(None, self._array(args)))

    def _only(self, members, name: str, args: tuple) -> object:
        matching = [member for member in members if member.getParameterCount() == len(args)]
        if len(matching) != 1:
            raise TypeError(f"{self._class.getName()}.{name} has {len(matching)} overloads "
                            f"of {len(args)} arguments")
        return matching[0]

    def _array(self, args: tuple) -> object:
        from pyflink.util.java_utils import to_jarray

        return to_jarray(self._jvm.Object, list(args))


def _unwrapped(call):
    """``call()``, raising what the Java member threw rather than reflection's wrapper."""
    from py4j.protocol import Py4JJavaError

    try:
        return call()
    except Py4JJavaError as error:
        cause = error.java_exception
        if cause.getClass().getName() != "java.lang.reflect.InvocationTargetException":
            raise
        raise Py4JJavaError(f"{error.errmsg}", cause.getCause()) from None


_LOADERS: dict[tuple[str, ...], object] = {}


def _module_loader(uris: tuple[str, ...]) -> object:
    """One class loader per set of jars, for the life of the JVM: a class loaded twice would
    be two classes."""
    if uris not in _LOADERS:
        from pyflink.java_gateway import get_gateway
        from pyflink.util.java_utils import to_jarray

        jvm = get_gateway().jvm
        _LOADERS[uris] = jvm.java.net.URLClassLoader(
            to_jarray(jvm.java.net.URL, [jvm.java.net.URL(uri) for uri in uris]),
            jvm.ClassLoader.getSystemClassLoader())
    return _LOADERS[uris]


def main() -> int:
    """``python -m trend_tracker.jars``: print the jars the job ships, one a line."""
    configure_logging()
    try:
        for path in job_jars():
            print(path)
    except MissingJarError as exc:
        print(exc)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
