"""The house: data flows one way, one place builds the services, one module talks to Label Studio.

Read from the source itself (Python's ast), so a new import that breaks the picture fails here.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIBRARY, SERVER = ROOT / "ls_context", ROOT / "ml_backend"


def modules(folder: Path):
    for path in sorted(folder.rglob("*.py")):
        if "migrations" not in path.parts:
            yield path, ast.parse(path.read_text(), filename=str(path))


def imported(tree) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def called(tree) -> set[str]:
    return {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_the_library_never_imports_the_model_server():
    offenders = [relative(path) for path, tree in modules(LIBRARY) if any(name.split(".")[0] == "ml_backend" for name in imported(tree))]

    assert offenders == []


def test_one_place_builds_the_services():
    builders = {"Processor", "Worker", "GuidelinesBook", "EventQueue", "ModelRegistry", "Trainer"}
    where = {relative(path): sorted(called(tree) & builders) for path, tree in [*modules(LIBRARY), *modules(SERVER)]}

    assert {path: found for path, found in where.items() if found} == {
        "ls_context/services.py": ["EventQueue", "GuidelinesBook", "Processor", "Worker"],
        "ml_backend/app.py": ["ModelRegistry", "Trainer"],
    }


def test_only_the_gateway_uses_the_sdks_client():
    users = [relative(path) for path, tree in [*modules(LIBRARY), *modules(SERVER)]
             if {"label_studio_sdk.LabelStudio", "label_studio_sdk.client"} & imported(tree)]

    assert users == ["ls_context/labelstudio/gateway.py"]


def test_the_demo_is_out_of_the_runtime_path():
    runtime = [path for path, _ in [*modules(LIBRARY), *modules(SERVER)] if "demo" not in path.parts and path.name != "demo.py"]
    offenders = [relative(path) for path in runtime
                 if any(name.startswith("ls_context.demo") for name in imported(ast.parse(path.read_text())))]

    assert offenders == []


def test_every_package_of_the_source_tree_ships_in_the_wheel():
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(path.parent.relative_to(ROOT).parts) for folder in (LIBRARY, SERVER) for path in folder.rglob("__init__.py")
             if "migrations" not in path.parts}
    assert found - listed == set()
