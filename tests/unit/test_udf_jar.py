"""The job's Java module is built from source into one jar, and rebuilt only when stale."""

from __future__ import annotations

import os
import zipfile

from trend_tracker import udf_jar


def test_the_jar_holds_every_class_and_the_format_registration(tmp_path):
    jar = udf_jar.build_jar(tmp_path / "udfs.jar")
    with zipfile.ZipFile(jar) as archive:
        names = set(archive.namelist())
        services = archive.read(
            "META-INF/services/org.apache.flink.table.factories.Factory").decode()
    for source in udf_jar.sources():
        relative = source.relative_to(udf_jar.SOURCE_DIR).with_suffix(".class").as_posix()
        assert relative in names
    assert "dev.trendtracker.format.TrendEventFormatFactory" in services.split()
    assert [p.name for p in tmp_path.iterdir()] == ["udfs.jar"]  # no partial file left


def test_a_jar_older_than_a_source_is_stale(tmp_path):
    jar = udf_jar.build_jar(tmp_path / "udfs.jar")
    assert not udf_jar.is_stale(jar)
    newest = max(p.stat().st_mtime for p in udf_jar.sources())
    os.utime(jar, (newest - 10, newest - 10))
    assert udf_jar.is_stale(jar)
    assert udf_jar.is_stale(tmp_path / "missing.jar")
