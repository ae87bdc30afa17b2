"""Security properties of the code base, checked on every run.

- Keys and paths cannot leave their namespace: whatever id or window end a hostile input
  brings (``../``, glob and hash-tag characters, newlines, look-alike Unicode), a Redis key
  is ``trend:`` plus id characters in the documented layout, and a Parquet path is the
  window's own file under its date and hour partition.
- Nothing unpickles or executes registry data: weights are JSON, so no module of ours
  imports a code-executing deserialiser or loads an MLflow model.
- No secret-looking value is committed: the repository holds placeholders, references to
  variables and the embedded local stack's loopback-only defaults, nothing else.
"""

from __future__ import annotations

import ast
import posixpath
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from trend_tracker import redis_layout as layout
from trend_tracker.events import ID_PATTERN
from udfs.parquet_sink import ParquetWindowWriter, window_file_path

ROOT = Path(__file__).resolve().parents[2]

# --- keys and paths stay in their namespace ---------------------------------------------

#: Inputs an attacker would try, whatever the generator comes up with besides.
HOSTILE_IDS = [
    "../", "..", "../../etc/passwd", "a/../../b", "/abs", "a/b", "a\\b", "*", "trend:*",
    "?", "[a-z]", "{tag}", "a{b}c", "{", "}", "a\nb", "a\r\n", "a\n", "\x00", "a\x00b",
    "p 1", " ", "", "x" * 65, "ü", "\u212a",  # KELVIN SIGN, K under case folding
    "\u0663", "\uff50",  # an Arabic-Indic digit, a fullwidth p
    "a\u200bb", "\u202e", "\ud800", "café", "p-1\t", "%2e%2e%2f", "trend:latest:all",
]
ID_CHARS = re.compile(r"[A-Za-z0-9._:-]{1,64}", re.ASCII)
#: What every key may hold: the prefix, then id characters and the layout's separators.
KEY_CHARS = re.compile(r"trend:[A-Za-z0-9._:/-]+", re.ASCII)

ids = st.one_of(st.sampled_from(HOSTILE_IDS), st.text(max_size=80),
                st.from_regex(ID_PATTERN, fullmatch=True))
categories = st.one_of(st.none(), ids)


def _accepted(value: str) -> bool:
    try:
        layout.checked_id(value)
    except layout.InvalidIdError:
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(value=ids)
def test_checked_id_accepts_exactly_the_ascii_id_pattern(value):
    assert _accepted(value) == bool(ID_CHARS.fullmatch(value))
    if _accepted(value):
        assert layout.checked_id(value) == value


@pytest.mark.parametrize("value", [v for v in HOSTILE_IDS
                                   if v not in ("..", "trend:latest:all")])
def test_hostile_ids_are_refused(value):
    with pytest.raises(layout.InvalidIdError):
        layout.checked_id(value)


def test_dots_alone_are_an_id_but_no_path():
    """``..`` matches the id pattern; keys are not paths, and no file name is built from an
    id (Parquet files are named by the window), so it cannot climb anywhere."""
    assert layout.product_key("..") == "trend:product:.."


@settings(max_examples=400, deadline=None)
@given(product_id=ids, category=categories)
def test_product_keys_stay_in_their_namespace_and_say_whose_they_are(product_id, category):
    try:
        key = layout.product_key(product_id, category)
    except layout.InvalidIdError:
        assert not _accepted(product_id) or not _accepted(category)
        return
    assert KEY_CHARS.fullmatch(key), key
    # The key names exactly this product and ranking: read back, they are the inputs.
    rest = key.removeprefix("trend:product:")
    owner, slash, scope = rest.partition("/")
    assert owner == product_id
    assert (scope.removeprefix("c:") if slash else None) == category
    assert not slash or scope.startswith("c:")


@settings(max_examples=400, deadline=None)
@given(category=categories, window_end=st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from(["1*", "../1", "1\n", "{1}", float("nan"), float("inf")])))
def test_ranking_keys_stay_in_their_namespace(category, window_end):
    try:
        ranking, latest = (layout.ranking_key(category, window_end),
                           layout.latest_key(category))
    except (layout.InvalidIdError, ValueError, OverflowError):
        return
    scope = "all" if category is None else f"c:{category}"
    assert ranking == f"trend:r:{scope}:{int(window_end)}"
    assert latest == f"trend:latest:{scope}"
    for key in (ranking, latest):
        assert KEY_CHARS.fullmatch(key), key
    # The window end is the last part and only digits: the scope reads back whole.
    assert ranking.rsplit(":", 1)[0] == f"trend:r:{scope}"
    assert re.fullmatch(r"-?[0-9]+", ranking.rsplit(":", 1)[1])


PARQUET_FILE = re.compile(r"date=-?[0-9]+-[0-9]{2}-[0-9]{2}/hour=[0-9]{2}/"
                          r"trends--?[0-9]+\.parquet", re.ASCII)
window_ends = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20), st.sampled_from(["../../x", "1/../2", "1\n", "*", b"..", None]),
)


@settings(max_examples=500, deadline=None)
@given(window_end=window_ends)
@example(window_end=1_704_067_200_000)
@example(window_end="../../etc/passwd")
def test_parquet_paths_stay_under_the_root(window_end):
    base = "/srv/trends/parquet"
    writer = ParquetWindowWriter.__new__(ParquetWindowWriter)  # path logic only, no I/O
    writer.base = base
    try:
        relative, path = window_file_path(window_end), writer.path_for(window_end)
    except (TypeError, ValueError, OverflowError, OSError):
        return  # refused: no path at all
    assert PARQUET_FILE.fullmatch(relative), relative
    assert path == f"{base}/{relative}"
    assert posixpath.normpath(path) == path
    assert path.startswith(base + "/") and ".." not in path.split("/")


# --- nothing unpickles or executes registry data --------------------------------------------

#: Modules whose loading runs code from the data (or can).
CODE_LOADING_MODULES = {"pickle", "_pickle", "cPickle", "cloudpickle", "dill", "joblib",
                        "shelve", "marshal", "torch"}
#: Calls that load models or objects by running code or unpickling.
CODE_LOADING_CALLS = {"load_model", "read_pickle", "unsafe_load", "full_load", "spark_udf"}


def source_files(suffix: str) -> list[Path]:
    """The repository's files (tracked, or new and not ignored) ending in ``suffix``."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, check=True, capture_output=True).stdout.decode().split("\0")
    return [ROOT / name for name in listed if name.endswith(suffix) and (ROOT / name).is_file()]


def code_loading(source: str) -> list[str]:
    """What in ``source`` can unpickle or execute data: imports, calls, ``yaml.load``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in CODE_LOADING_MODULES]
        elif isinstance(node, ast.ImportFrom):
            if (node.module or "").split(".")[0] in CODE_LOADING_MODULES:
                found.append(node.module)
            found += [a.name for a in node.names if a.name in CODE_LOADING_CALLS]
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in CODE_LOADING_CALLS:
                found.append(name)
            if name == "load" and isinstance(func, ast.Attribute) and ast.unparse(
                    func.value) == "yaml" and not any(k.arg == "Loader" and "Safe" in ast.unparse(
                    k.value) for k in node.keywords):
                found.append("yaml.load")
            if name in ("eval", "exec") and isinstance(func, ast.Name):
                found.append(name)
            if name == "load" and isinstance(func, ast.Attribute) and ast.unparse(
                    func.value) in ("np", "numpy") and any(k.arg == "allow_pickle"
                                                           for k in node.keywords):
                found.append("numpy.load(allow_pickle)")
    return found


@pytest.mark.parametrize("snippet", [
    "import pickle\npickle.loads(b'')",
    "from cloudpickle import loads",
    "import joblib",
    "import mlflow\nmlflow.pyfunc.load_model('models:/trend-weights@champion')",
    "from mlflow.pyfunc import load_model",
    "import yaml\nyaml.load(text)",
    "eval(text)",
    "import numpy as np\nnp.load(path, allow_pickle=True)",
])
def test_the_scan_finds_code_loading(snippet):
    """The control: each way of running code from data is found."""
    assert code_loading(snippet)


def test_safe_loading_is_not_flagged():
    assert code_loading("import json, yaml\njson.loads(t)\nyaml.safe_load(t)\n"
                        "yaml.load(t, Loader=yaml.SafeLoader)\nself.eval(x)") == []


def test_no_module_unpickles_or_executes_data():
    python = [p for p in source_files(".py") if p != Path(__file__).resolve()]
    assert len(python) > 50
    offenders = {str(p.relative_to(ROOT)): code_loading(p.read_text()) for p in python}
    assert {path: found for path, found in offenders.items() if found} == {}


def test_weights_are_read_as_json_from_the_registry():
    """The registry's weights artifact is JSON, parsed with json and checked by schema."""
    from registry import client, weights

    assert client.WEIGHTS_ARTIFACT == "weights.json"
    assert client.parse_weights_json is weights.parse_weights_json
    source = ast.parse(Path(weights.__file__).read_text())
    parse = next(n for n in ast.walk(source)
                 if isinstance(n, ast.FunctionDef) and n.name == "parse_weights_json")
    assert "json.loads" in ast.unparse(parse) and "jsonschema.validate" in ast.unparse(parse)


# --- no secret-looking value is committed ---------------------------------------------------

#: High-confidence shapes of real credentials, searched in every file, tests included.
CREDENTIAL_SHAPES = {
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret access key": re.compile(
        r"(?i)aws_?secret_?access_?key\W{1,4}[A-Za-z0-9/+]{40}\b"),
    "private key": re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
}
#: A secret-named key given a value: ``NAME=value``, ``NAME: value``, ``name="value"``
#: (not ``${NAME:?message}``, a reference to a variable).
SECRET_NAME = r"[A-Za-z0-9_]*(?:PASSWORD|PASSWD|SECRET|TOKEN|ACCESS_KEY|API_KEY)[A-Za-z0-9_]*"
_VALUE = r"[ \t]*[:=][ \t]*(?!\s)[\"']?([^\s\"'#,}]*)"
CONFIG_ASSIGNMENT = re.compile(rf"(?i)(?<![{{\w])({SECRET_NAME})[\"']?{_VALUE}")
#: In prose (Markdown), only variable-style names: "Secret: ..." is a sentence.
DOC_ASSIGNMENT = re.compile(
    rf"(?<![{{\w])([A-Z0-9_]*(?:PASSWORD|PASSWD|SECRET|TOKEN|ACCESS_KEY|API_KEY)[A-Z0-9_]*)"
    rf"{_VALUE}")
CODE_ASSIGNMENT = re.compile(rf"(?i)(?<![{{\w])({SECRET_NAME})\s*[:=]\s*[\"']([^\"']*)[\"']")
URL_CREDENTIALS = re.compile(r"[a-z][a-z0-9+.-]*://[^\s/:@\"'`]*:([^\s@\"'`/]+)@")
#: Values that are not secrets: empty, references to variables, placeholders.
NOT_A_SECRET = re.compile(
    r"^(?:|\$.*|\{.*|\.\.\.|\*\*\*|REPLACE-ME|PASSWORD|PASS|<[^>]*>|\w+\(.*|None|null)$")
#: The embedded local stack's S3 keys: its S3 endpoint accepts any key and listens on
#: loopback only (localstack/stack.py), so these are defaults, not credentials.
LOCAL_DEV_DEFAULTS = {"trend-local", "trend-local-secret"}
CODE_SUFFIXES = (".py", ".java", ".js")
TEXT_SUFFIXES = (".py", ".java", ".js", ".yml", ".yaml", ".json", ".toml", ".cfg", ".ini",
                 ".sh", ".md", ".txt", ".html", ".css", ".properties", ".example",
                 "Dockerfile", "Makefile", ".dockerignore")


#: Third-party files shipped as they were released (Swagger UI and ReDoc, for offline
#: /docs and /redoc); the credential-shape scan above still reads them.
VENDORED = (Path("api/static/swagger"), Path("api/static/redoc"))


def text_files() -> list[Path]:
    return [p for suffix in TEXT_SUFFIXES for p in source_files(suffix)]


def secret_values(path: Path, text: str) -> list[tuple[int, str]]:
    """(line, value) of each literal value given to a secret-named key or a URL's password."""
    pattern = (CODE_ASSIGNMENT if path.name.endswith(CODE_SUFFIXES)
               else DOC_ASSIGNMENT if path.suffix == ".md" else CONFIG_ASSIGNMENT)
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        values = [m[2] for m in pattern.finditer(line)] + URL_CREDENTIALS.findall(line)
        found += [(number, v) for v in values
                  if not NOT_A_SECRET.match(v) and v not in LOCAL_DEV_DEFAULTS]
    return found


@pytest.mark.parametrize("path, line", [
    ("x.yml", "  POSTGRES_PASSWORD: hunter2"),
    ("x.env", "REDIS_PASSWORD=s3cr3t-value"),
    ("x.py", 'S3_SECRET_KEY = "wJalrXUtnFEMI"'),
    ("x.md", "TREND_REDIS_URL=redis://:realpass@redis:6379/0"),
])
def test_the_scan_finds_committed_secrets(path, line):
    assert secret_values(Path(path), line)


@pytest.mark.parametrize("path, line", [
    ("x.yml", "  POSTGRES_PASSWORD: ${MLFLOW_DB_PASSWORD:?set it}"),
    ("x.yml", "  TREND_S3_SECRET_KEY: REPLACE-ME"),
    ("x.example", "REDIS_PASSWORD="),
    ("x.md", "--from-literal=TREND_S3_SECRET_KEY=... --from-literal=REDIS_PASSWORD=..."),
    ("x.py", 'secret_key = settings.s3_secret_key.get_secret_value()'),
    ("x.yml", "  TREND_REDIS_URL: redis://:$(REDIS_PASSWORD)@redis:6379/0"),
    ("x.yml", "      - ${REDIS_PASSWORD:?set REDIS_PASSWORD in .env}"),
    ("x.md", "the kustomization holds no Secret: it never touches step 3's"),
])
def test_the_scan_lets_placeholders_and_references_pass(path, line):
    assert secret_values(Path(path), line) == []


def test_no_credential_shaped_value_is_committed():
    files = text_files()
    assert len(files) > 100
    hits = {f"{p.relative_to(ROOT)}: {name}" for p in files
            for name, shape in CREDENTIAL_SHAPES.items() if shape.search(p.read_text())}
    assert hits == set()


def test_no_secret_value_is_committed_outside_the_tests():
    """Tests hold made-up values by design (and the shapes above cover them too)."""
    found = {}
    for path in text_files():
        relative = path.relative_to(ROOT)
        if relative.parts[0] == "tests":
            continue
        if any(relative.is_relative_to(v) for v in VENDORED):
            continue  # minified third-party code: its `a?b:c@d` expressions look like URLs
        values = secret_values(path, path.read_text())
        if values:
            found[str(relative)] = values
    assert found == {}


def test_env_example_holds_no_secret_and_the_real_files_are_ignored():
    example = (ROOT / ".env.example").read_text().splitlines()
    secret_lines = [line for line in example
                    if re.match(rf"(?i){SECRET_NAME}=", line)]
    assert secret_lines and all(line.endswith("=") for line in secret_lines)
    ignored = subprocess.run(["git", "check-ignore", ".env", ".trend/stack.env",
                              ".trend/secrets/job-1.env"], cwd=ROOT, capture_output=True,
                             text=True, check=False).stdout.split()
    assert ignored == [".env", ".trend/stack.env", ".trend/secrets/job-1.env"]
