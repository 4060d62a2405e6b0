"""The shape of the code: the import contracts (import-linter), imports at module level, modules and functions small.

The layering is docs/architecture.md's: sessions_app > archive_app > cache_app > convostore, no cycle
between the modules or packages of any app (pyproject.toml [tool.importlinter]).
"""

import ast
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parent.parent
APPS = ("convostore", "cache_app", "archive_app", "sessions_app")
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 40


def project_modules():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def test_import_contracts_are_kept():
    """Layers, acyclic siblings and the Django-free client and LiteLLM hook, as `lint-imports` checks them (function-level imports count too)."""
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True) == 0


def test_project_imports_are_at_module_level():
    """A project import inside a function only where Django requires it (AppConfig.ready) or where a ``# lazy:``
    comment just above says why."""
    found = []
    for path in project_modules():
        source = path.read_text()
        lines = source.splitlines()
        tree = ast.parse(source)
        for function in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
            for node in ast.walk(function):
                project = (isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(".")[0] in APPS)) or (
                    isinstance(node, ast.Import) and any(alias.name.split(".")[0] in APPS for alias in node.names))
                if not project or (path.name == "apps.py" and function.name == "ready"):
                    continue
                if not lines[node.lineno - 2].strip().startswith("# lazy:"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []


@pytest.mark.parametrize("path", list(project_modules()), ids=lambda path: str(path.relative_to(ROOT)))
def test_modules_and_functions_stay_small(path):
    """Modules under ~300 lines; functions under ~40 unless a ``# long:`` comment in them says why."""
    source = path.read_text()
    assert len(source.splitlines()) <= MAX_MODULE_LINES
    lines = source.splitlines()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES:
            body = lines[node.lineno - 1 : node.end_lineno]
            assert any(line.strip().startswith("# long:") for line in body), f"{node.name} is {node.end_lineno - node.lineno + 1} lines"
