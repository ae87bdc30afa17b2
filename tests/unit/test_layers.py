"""The packages' import layers, as docs/ARCHITECTURE.md draws them, checked on the source.

- The ground (``trend_tracker`` without its two wiring modules) imports nothing else of the
  project: the settings, the event contract, the output row and the Redis layout stand on
  their own.
- The wiring (``trend_tracker.cli``, the ``trend`` command, and ``trend_tracker.demo``) may
  import everything, and nothing of the product imports it.
- The product (``jobs``, ``udfs``, ``api``, ``registry``, ``simulator``) never imports the
  local servers, the benchmarks or the tests.
- Code that runs in Flink's workers (``udfs``) and the API import only the ground.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT_PACKAGES = {"trend_tracker", "localstack", "simulator", "jobs", "udfs", "api",
                    "registry", "benchmarks", "tests"}
WIRING = {"trend_tracker.cli", "trend_tracker.demo"}
PRODUCT = ("jobs", "udfs", "api", "registry", "simulator")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_imports(path: Path) -> set[str]:
    """Absolute imports of project modules in one file (lazy ones inside functions too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name for name in names if name.split(".")[0] in PROJECT_PACKAGES)
    return found


def modules(package: str) -> dict[str, set[str]]:
    return {module_name(path): project_imports(path)
            for path in sorted((ROOT / package).rglob("*.py"))}


def is_ground(name: str) -> bool:
    return name.split(".")[0] == "trend_tracker" and not any(
        name == w or name.startswith(w + ".") for w in WIRING)


def test_the_ground_imports_nothing_else_of_the_project():
    for module, imports in modules("trend_tracker").items():
        if is_ground(module):
            assert {name for name in imports if not is_ground(name)} == set(), module


@pytest.mark.parametrize("package", PRODUCT)
def test_the_product_never_imports_the_wiring_the_local_servers_or_the_tests(package):
    for module, imports in modules(package).items():
        banned = {name for name in imports
                  if name.split(".")[0] in ("localstack", "benchmarks", "tests")
                  or any(name == w or name.startswith(w + ".") for w in WIRING)}
        assert banned == set(), module


@pytest.mark.parametrize("package", ["udfs", "api"])
def test_the_workers_code_and_the_api_import_only_the_ground(package):
    for module, imports in modules(package).items():
        outside = {name for name in imports
                   if name.split(".")[0] != package and not is_ground(name)
                   and name != "trend_tracker"}
        assert outside == set(), module
