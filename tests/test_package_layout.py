"""The package's shape: no import cycle between its modules and no import that climbs back up, counting
imports inside functions; data and presets need no Keras."""

import ast
import pathlib
import subprocess
import sys

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "keras_fsq"


def module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path):
    """The keras_fsq modules ``path`` imports anywhere: at the top and inside functions (when they run)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def import_graph():
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: sorted(m for m in imports_of(path) if m in modules and m != name) for name, path in modules.items()}


# Which way each part may import: a module under the key imports none of the modules under the values.
# The priors sit below the model and the codec that use them; the quantizers below everything that
# quantizes; the model below the codec; nothing but the command line imports the command line.
LAYERS = {
    "keras_fsq.priors": ("keras_fsq.models", "keras_fsq.compression", "keras_fsq.codec", "keras_fsq.maskgit"),
    "keras_fsq.quantizers": ("keras_fsq.models", "keras_fsq.priors", "keras_fsq.compression", "keras_fsq.maskgit"),
    "keras_fsq.models": ("keras_fsq.compression", "keras_fsq.codec", "keras_fsq.maskgit", "keras_fsq.tuning"),
    "keras_fsq.architectures": ("keras_fsq.models", "keras_fsq.compression"),
    "keras_fsq.data": ("keras_fsq.sources", "keras_fsq.class_folders"),
    "keras_fsq.class_folders": ("keras_fsq.sources",),
}


def climbing_imports(graph, layers):
    """``(module, imported)`` pairs where a module under a ``layers`` key imports one of its values."""
    return sorted(
        (module, imported)
        for module, imported_modules in graph.items()
        for below, above in layers.items()
        if module == below or module.startswith(below + ".")
        for imported in imported_modules
        if any(imported == top or imported.startswith(top + ".") for top in above)
    )


def find_cycle(graph):
    """A list of modules forming a cycle, or None (depth-first search)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for successor in graph[node]:
            if state.get(successor) == "open":
                return stack[stack.index(successor) :] + [successor]
            if successor not in state:
                cycle = visit(successor)
                if cycle:
                    return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_find_cycle_sees_a_cycle():
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ["b"], "b": [], "c": ["a"]}) is None


def test_the_package_has_no_import_cycle_counting_imports_inside_functions():
    graph = import_graph()
    assert "keras_fsq.models" in graph and graph["keras_fsq.data"], "the graph was not read"
    assert "keras_fsq.sources" in graph["keras_fsq.cli.train"], "imports inside functions were not read"
    assert find_cycle(graph) is None


def test_no_import_climbs_back_up():
    graph = import_graph()
    assert climbing_imports({"a.low": ["a.high.x"], "a.high.x": ["a.low"]}, {"a.low": ("a.high",)}) == [
        ("a.low", "a.high.x")
    ]
    assert climbing_imports(graph, LAYERS) == []
    outside = [(m, i) for m, imported in graph.items() if not m.startswith("keras_fsq.cli") for i in imported]
    assert [pair for pair in outside if pair[1].startswith("keras_fsq.cli")] == []


def test_data_presets_and_levels_import_without_keras():
    code = (
        "import sys\n"
        "import keras_fsq.data, keras_fsq.presets, keras_fsq.levels, keras_fsq.validation\n"
        "heavy = sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
