"""The layering of docs/architecture.md, checked on the source: only the ops layer imports
fastembed._kernels, and no fastembed module imports, directly or through others, one that
imports it back (imports inside functions count: they hide a cycle, they do not remove it).
"""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent / "fastembed"

# The ops layer: the public functional ops and the private modules beside them that call
# into C (docs/architecture.md, floor 2).
OPS_LAYER = {"fastembed.ops", "fastembed.sparse", "fastembed._quantized_ops", "fastembed._arrays",
             "fastembed._threads", "fastembed._build_info", "fastembed._spin",
             "fastembed._pool"}


def _is_ops_layer(module):
    return module in OPS_LAYER or module.startswith("fastembed._ops_")


# The floors above C (docs/architecture.md). A module imports from its own floor and the
# floors below, never from above. Floor 3 also holds the value types the ops take
# (sparse.RowSparseGrad, quantized.QuantizedTable) and the helpers that import no C.
PUBLIC = {"fastembed.layer", "fastembed.initializers", "fastembed.constraints",
          "fastembed.regularizers", "fastembed.optimizers", "fastembed.config"}
TOP = ("fastembed.interop", "fastembed.distributed", "fastembed.bench")


def floor(module):
    if module == "fastembed._kernels":
        return 2
    if module in PUBLIC:
        return 4
    if module in ("fastembed", "fastembed.__main__") or module.startswith(TOP):
        return 5
    return 3


def _modules():
    """{dotted name: path} of every Python module of the package."""
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()
EXTENSION = "fastembed._kernels"


def _imports(name, path):
    """The fastembed modules `name` imports, anywhere in its source (TYPE_CHECKING blocks
    aside)."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for b in node.body for n in ast.walk(b))
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "fastembed")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] != "fastembed":
                continue
            for alias in node.names:  # `from pkg import submodule` imports the submodule
                sub = f"{module}.{alias.name}"
                found.add(sub if sub in MODULES or sub == EXTENSION else module)
    found.discard(name)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def test_the_graph_is_read():
    assert EXTENSION in GRAPH["fastembed.ops"]
    assert "fastembed.ops" in GRAPH["fastembed.layer"]


def test_only_the_ops_layer_imports_the_extension():
    crossing = sorted(name for name, deps in GRAPH.items()
                      if EXTENSION in deps and not _is_ops_layer(name))
    assert crossing == [], f"modules importing {EXTENSION} outside the ops layer: {crossing}"


def test_imports_go_down_the_floors():
    upward = sorted(f"{name} (floor {floor(name)}) imports {dep} (floor {floor(dep)})"
                    for name, deps in GRAPH.items() for dep in deps if floor(dep) > floor(name))
    assert upward == []


def _cycle_from(start):
    """One import cycle through `start` (a list of modules), or None."""
    stack, seen = [(start, [start])], set()
    while stack:
        node, path = stack.pop()
        for dep in GRAPH.get(node, ()):
            if dep == start:
                return path + [start]
            if dep not in seen and dep in GRAPH:
                seen.add(dep)
                stack.append((dep, path + [dep]))
    return None


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != "fastembed"))
def test_no_import_cycle(module):
    # the package facade imports every public module; a module that imports the facade
    # back (``import fastembed``) would close a cycle through it, so it counts too
    cycle = _cycle_from(module)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_a_cycle_would_be_seen(monkeypatch):
    monkeypatch.setitem(GRAPH, "fastembed.ops", GRAPH["fastembed.ops"] | {"fastembed.layer"})
    assert _cycle_from("fastembed.layer") is not None
