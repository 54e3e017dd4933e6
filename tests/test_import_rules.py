"""Which package may import which (docs/ARCHITECTURE.md, "Imports"), checked on the source and in a fresh process.

    models  ←  asr, extract  ←  pipeline (one call)  ←  pipeline.service  ←  api

- `models` imports nothing from `asr`, `extract`, `pipeline` or `api`.
- `asr` and `extract` import nothing from `pipeline` or `api`.
- `pipeline`'s one-call modules import nothing from `pipeline.service` or `api`. The exception is
  `pipeline.cli`, the `hotline` entry point, which registers the service's commands (`pipeline.service.cli`).
- `pipeline.service` imports nothing from `api`. The exception is `pipeline.service.cli`, whose `hotline serve`
  starts the API server (`api.server`).
- `pipeline.service.tasks` (the Celery worker's app) is imported by `pipeline.service.cli` (`hotline worker`,
  `hotline beat`) only.
- `api` imports no SQLAlchemy and no `pipeline.service.database`, and opens no database session of its own.
- No import cycle among the project's modules.

The graph is read from the source files with `ast`. The layer rules count every import, at module level or inside
a function: an import deferred to first use is still a dependency. The cycle check counts module-level imports
only (those under `if TYPE_CHECKING:` excepted): an import inside a function runs when it is called, after the
modules involved have loaded, which is how the service reaches the ASR stack lazily; those cannot break
loading. A separate test holds the graph acyclic with the deferred imports counted too, for now: relax it
(not the module-level one) if a deferred import that closes a loop is ever the right design.

The subprocess check is about import-time side effects: `import api.main` with default settings must load no
model code (torch, faster-whisper, CTranslate2), no boto3 (the S3 store is loaded only when configured) and no
Celery (the API sends tasks by name, through a sender made at start-up), and must create nothing on disk.
"""

import ast
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("models", "asr", "extract", "pipeline", "api")


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int
    module_level: bool  # executed when the importer loads (not in a function, not under TYPE_CHECKING)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            modules[_module_name(path)] = path
    return modules


MODULES = _project_modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = importer if MODULES[importer].name == "__init__.py" else importer.rpartition(".")[0]
    base = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def _targets(importer: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The project modules an import statement loads (`from package import module` names the module)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = _resolve(importer, node)
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
    return sorted({name for name in names if name.split(".")[0] in PACKAGES})


def _imports(module: str, path: Path) -> list[Import]:
    found: list[Import] = []

    def visit(node: ast.AST, module_level: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.extend(Import(module, target, child.lineno, module_level) for target in _targets(module, child))
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(child, False)
            elif isinstance(child, ast.If) and _is_type_checking(child):
                for statement in child.body:
                    visit(ast.Module(body=[statement], type_ignores=[]), False)
                for statement in child.orelse:
                    visit(ast.Module(body=[statement], type_ignores=[]), module_level)
            else:
                visit(child, module_level)

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)), True)
    return found


IMPORTS = [found for module, path in MODULES.items() for found in _imports(module, path)]


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _violations(importers: str, forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()) -> list[str]:
    return [
        f"{found.importer}:{found.line} imports {found.imported}"
        for found in IMPORTS
        if _in(found.importer, importers)
        and not any(_in(found.importer, exception) for exception in allowed)
        and any(_in(found.imported, package) for package in forbidden)
    ]


def test_the_graph_is_read() -> None:
    """Guards the guard: the parser finds the imports the rules are about."""
    assert {"api.main", "pipeline.run", "pipeline.service.wiring", "asr.turns", "models"} <= MODULES.keys()
    edges = {(found.importer, found.imported) for found in IMPORTS}
    assert ("api.main", "pipeline.settings") in edges
    assert ("pipeline.service.cli", "pipeline.service.tasks") in edges  # inside a function
    assert ("pipeline.cli", "pipeline.logmask") in edges  # `from pipeline import logmask`
    assert ("models", "models.ticket") in edges


def test_models_import_no_other_package() -> None:
    assert _violations("models", ("asr", "extract", "pipeline", "api")) == []


@pytest.mark.parametrize("package", ["asr", "extract"])
def test_asr_and_extract_import_neither_pipeline_nor_api(package: str) -> None:
    assert _violations(package, ("pipeline", "api")) == []


def test_one_call_pipeline_imports_neither_the_service_nor_api() -> None:
    violations = _violations("pipeline", ("pipeline.service", "api"), allowed=("pipeline.service", "pipeline.cli"))
    assert violations == []


def test_the_service_does_not_import_api() -> None:
    assert _violations("pipeline.service", ("api",), allowed=("pipeline.service.cli",)) == []


def test_api_reaches_the_database_through_the_service() -> None:
    """Routes and auth take the services (`api.deps.ServicesDep`; keys and logins through `Services.keys`): no
    tables, no SQL, no database sessions of their own (`repository.sessions` is the SQLAlchemy sessionmaker)."""
    assert _violations("api", ("pipeline.service.database",)) == []
    sql = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in sorted((ROOT / "api").rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if (isinstance(node, ast.Import) and any(alias.name.split(".")[0] == "sqlalchemy" for alias in node.names))
        or (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy")
        or (isinstance(node, ast.Attribute) and node.attr == "sessions")
    ]
    assert sql == []


def test_the_celery_worker_module_is_a_leaf() -> None:
    importers = {found.importer for found in IMPORTS if found.imported == "pipeline.service.tasks"}
    assert importers == {"pipeline.service.cli"}


def _cycles(deferred: bool = False) -> list[list[str]]:
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for found in IMPORTS:
        if (found.module_level or deferred) and found.imported in graph and found.imported != found.importer:
            graph[found.importer].add(found.imported)
    # Tarjan's strongly connected components: any component of two or more modules is a cycle
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(graph[module]):
            if target not in index:
                connect(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            connect(module)
    return components


def test_no_import_cycle() -> None:
    assert _cycles() == []


def test_no_cycle_through_deferred_imports_either() -> None:
    """Not a loading hazard, but two modules that need each other are one concern in two files (the service's
    wiring and the Celery tasks were, through imports inside functions)."""
    assert _cycles(deferred=True) == []


def test_importing_the_api_loads_no_model_code_no_boto3_no_celery(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("HOTLINE_")}
    env["HOTLINE_DATA_DIR"] = str(tmp_path / "data")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    script = "import json, sys\nimport api.main\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    loaded = {name.split(".")[0] for name in json.loads(result.stdout.splitlines()[-1])}
    assert "api" in loaded
    assert loaded & {"torch", "faster_whisper", "ctranslate2", "boto3", "botocore", "celery"} == set()
    assert not (tmp_path / "data").exists(), "importing the API wrote to the data directory"
