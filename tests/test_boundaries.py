"""The house's shape, checked on the source: one door per tool, layers, no import circles.

Each tool is imported only by its adapter's modules; the tools' own objects
(MLflow's client, BentoML's store, DVC's repo, Evidently's workspace) are
reached only through the facade's documented escape hatches; imports run from
the CLI down to the foundation, never back up, and no two modules import each
other, directly or around a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "mlops"

# tool (top-level module) -> the modules allowed to import it
ADAPTERS: dict[str, tuple[str, ...]] = {
    "mlflow": (
        "mlops.tracking._mlflow",
        "mlops.tracking._models",
        "mlops.tracking._reads",
        "mlops.tracking._errors",
        "mlops.serving.runtime",  # copied into each Bento: it loads the model
        "mlops.integrations.mlx_adapter",  # builds an MLflow pyfunc model of an adapter
        "mlops.integrations.mlx_adapter_pyfunc",  # copied into that model: loads it
    ),
    "sqlalchemy": ("mlops.tracking._errors",),
    "requests": (
        "mlops.tracking._errors",
        "mlops.monitoring._evidently",  # Evidently's HTTP client, sent with a timeout
    ),
    "urllib3": ("mlops.tracking._errors",),
    "dvc": ("mlops.versioning._dvc", "mlops.versioning._dvc_errors"),
    "dvc_objects": ("mlops.versioning._dvc_errors",),
    "dvc_data": ("mlops.versioning._dvc",),
    "scmrepo": ("mlops.versioning._dvc",),
    "bentoml": ("mlops.serving._bentoml",),
    "evidently": ("mlops.monitoring._evidently", "mlops.monitoring.text"),
    "pandas": (
        "mlops.monitoring._evidently",
        "mlops.monitoring.text",  # part of the Evidently adapter: text descriptors
        "mlops.serving.runtime",
        "mlops.demo_lora",  # the demo is user code: it builds its own frames
    ),
    # MLX, mlx-lm and the Hugging Face stack: the LoRA integration, the tiny model builder,
    # the generation runtime copied into each Bento, the MLX memory probe.
    **{
        tool: (
            "mlops.integrations.mlx_lm",
            "mlops.integrations.mlx_lm_cli",
            "mlops.testing.tiny_llama",
            "mlops.serving.generation_runtime",
            "mlops.hardware.mlx",
            "mlops.demo_lora",  # compares the served output with mlx-lm's own, in process
        )
        for tool in ("mlx", "mlx_lm", "transformers", "tokenizers", "peft", "torch")
    },
    "pynvml": ("mlops.hardware.nvidia",),
    "fastapi": ("mlops.dashboard.app",),
    "uvicorn": ("mlops.dashboard.app",),
    "plotly": ("mlops.dashboard.app", "mlops.dashboard.charts"),
}
# The tools' own objects: only the facade hands them out, only adapters hold them.
ESCAPE_HATCHES = {"mlflow_client", "bento_store", "dvc_repo", "evidently_workspace"}
TOOL_HANDLES = {"_client", "_bento_store", "_model_store", "_tmp_store", "_history"}
ADAPTER_MODULES = {m for mods in ADAPTERS.values() for m in mods}

# Layers, lowest first: a module imports only from its own layer or below.
LAYERS = (
    ("mlops.errors", "mlops.tags", "mlops.invocation"),
    ("mlops.config", "mlops.components", "mlops.workspace"),
    (
        "mlops.tracking",
        "mlops.telemetry",
        "mlops.versioning",
        "mlops.serving",
        "mlops.monitoring",
        "mlops.hardware",
    ),
    ("mlops.client",),
    (
        "mlops.dashboard",
        "mlops.demo",
        "mlops.demo_lora",
        "mlops.integrations",
        "mlops.testing",
        "mlops.cli",
        "mlops.__main__",
        "mlops",
    ),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, ast.Module]:
    return {module_name(p): ast.parse(p.read_text()) for p in sorted(SRC.rglob("*.py"))}


def imported(name: str, tree: ast.Module, known: set[str], typing_only: bool = True) -> set[str]:
    """Every module ``name`` imports (at top, in functions; ``typing_only``: also the
    annotations-only imports under ``if TYPE_CHECKING:``, which load nothing)."""
    package = name if name in known and _is_package(name) else name.rpartition(".")[0]
    skipped = set() if typing_only else _type_checking_nodes(tree)
    out = set()
    for node in ast.walk(tree):
        if node in skipped:
            continue
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known)
    return out


def _type_checking_nodes(tree: ast.Module) -> set[ast.AST]:
    blocks = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.If) and isinstance(n.test, ast.Name) and n.test.id == "TYPE_CHECKING"
    ]
    return {inner for block in blocks for stmt in block.body for inner in ast.walk(stmt)}


def _is_package(name: str) -> bool:
    return (SRC.parent / name.replace(".", "/") / "__init__.py").is_file()


def tool_violations(name: str, tree: ast.Module, known: set[str]) -> list[str]:
    """Tool imports outside the tool's adapter, and tool objects used outside the facade."""
    found = []
    # Annotations of the facade's escape hatches name the tools' types: they load nothing.
    for target in imported(name, tree, known, typing_only=False):
        top = target.split(".")[0]
        if top in ADAPTERS and name not in ADAPTERS[top]:
            found.append(f"{name} imports {target} (only {', '.join(ADAPTERS[top])} may)")
    in_facade = name.startswith("mlops.client") or name in ADAPTER_MODULES
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        if node.attr in ESCAPE_HATCHES and not in_facade:
            found.append(f"{name} uses the escape hatch .{node.attr} (line {node.lineno})")
        on_self = isinstance(node.value, ast.Name) and node.value.id == "self"
        if node.attr in TOOL_HANDLES and not on_self and name not in ADAPTER_MODULES:
            found.append(f"{name} reaches into an adapter's .{node.attr} (line {node.lineno})")
    return found


def layer_of(name: str) -> int:
    best = (-1, -1)  # (length of the matching prefix, layer)
    for rank, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best[0]:
                best = (len(prefix), rank)
    assert best[1] >= 0, f"{name} has no layer: add it to LAYERS"
    return best[1]


def graph() -> dict[str, set[str]]:
    trees = modules()
    known = set(trees)
    return {
        n: {m for m in imported(n, t, known) if m in known and m != n} for n, t in trees.items()
    }


def test_each_tool_is_imported_only_by_its_adapter() -> None:
    trees = modules()
    known = set(trees)
    problems = [v for n, t in trees.items() for v in tool_violations(n, t, known)]
    assert problems == []


@pytest.mark.parametrize(
    ("planted", "why"),
    [
        ("import mlflow\n", "imports mlflow"),
        ("from bentoml._internal.bento import BentoStore\n", "imports bentoml"),
        ("def f(t):\n    return t._client.get_run('x')\n", "reaches into an adapter"),
    ],
)
def test_the_check_catches_a_planted_leak(planted: str, why: str) -> None:
    known = set(modules())
    tree = ast.parse((SRC / "client" / "_records.py").read_text() + "\n" + planted)
    assert any(why in v for v in tool_violations("mlops.client._records", tree, known))


def test_imports_run_down_the_layers() -> None:
    upward = [
        f"{a} (layer {layer_of(a)}) imports {b} (layer {layer_of(b)})"
        for a, targets in graph().items()
        for b in targets
        if layer_of(b) > layer_of(a) and not (a == "mlops" and b.startswith("mlops.client"))
    ]
    assert upward == []


def test_the_import_graph_has_no_circle() -> None:
    edges = graph()
    # mlops/__init__ re-exports the client lazily; a package importing its own
    # submodule is not a circle of modules.
    for name in edges:
        edges[name] = {m for m in edges[name] if not name.startswith(m + ".") and name != "mlops"}
    assert _circles(edges) == []


def _circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out
