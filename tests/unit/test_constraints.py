"""constraints.txt pins every dependency the project declares, to a version its
pyproject.toml range allows, and every install uses it (`make lock` writes it)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][A-Za-z0-9.+!-]*)$")


def pins() -> dict[str, Version]:
    """constraints.txt as canonical name -> version; every line a comment or a pin."""
    found: dict[str, Version] = {}
    for number, line in enumerate((ROOT / "constraints.txt").read_text().splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        match = PIN.fullmatch(line)
        assert match, f"line {number} is not name==version: {line!r}"
        name = canonicalize_name(match[1])
        assert name not in found, f"{name} pinned twice"
        found[name] = Version(match[2])
    return found


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    return [Requirement(spec) for spec in
            [*project["dependencies"], *extras["local"], *extras["test"], *extras["dev"]]]


def test_every_declared_dependency_is_pinned_within_its_range():
    pinned = pins()
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement} is not in constraints.txt"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"constraints.txt pins {name}=={pinned[name]}, outside {requirement}")


def test_the_project_itself_is_not_in_the_file():
    # pins() also refuses any line but a comment or name==version: no path, no URL.
    assert "trend-tracker" not in pins()


def test_the_venv_is_installed_from_the_constraints_and_rebuilt_when_they_change():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^LOCK := constraints\.txt$", makefile, re.MULTILINE)
    assert re.search(r"^\$\(STAMP\): pyproject\.toml \$\(LOCK\)$", makefile, re.MULTILINE)
    assert "pip install --quiet -c $(LOCK) -e '.[local,test,dev]'" in makefile
    assert re.search(r"^lock:$", makefile, re.MULTILINE)
