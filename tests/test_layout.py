"""Where things live: task names only in vauflow/tasks, no import cycle, short functions, the Snakefile's helpers
reading the config only through vauflow.plan, shell lines naming no path of their own, and every command declared
beside the code it runs."""

import ast
import collections
import importlib
import re
from pathlib import Path

from vauflow import tasks
from vauflow.commands import DECLARED_IN, all_commands

from conftest import REPO

PACKAGE = REPO / "vauflow"


def task_name_comparisons(files, names):
    """`x == "qa"`, `t in ("tag", "cls")` …: comparisons with a task-name literal, as "path:line: code"."""

    def literal(node):
        if isinstance(node, ast.Constant):
            return node.value in names
        return isinstance(node, (ast.Tuple, ast.List, ast.Set)) and any(literal(e) for e in node.elts)

    hits = []
    for path in files:
        for node in ast.walk(ast.parse(Path(path).read_text())):
            if isinstance(node, ast.Compare) and any(literal(x) for x in (node.left, *node.comparators)):
                hits.append(f"{path}:{node.lineno}: {ast.unparse(node)}")
    return hits


def test_task_names_stay_in_the_registry(tmp_path):
    """Outside vauflow/tasks a stage reads a task's record instead of asking which task it is (was 56 such
    comparisons); the counter finds the branches it is meant to (control)."""
    outside = [p for p in sorted(PACKAGE.rglob("*.py")) if "tasks" not in p.relative_to(PACKAGE).parts[:1]]
    hits = task_name_comparisons(outside, set(tasks.TASKS))
    assert len(hits) <= 8, "\n".join(hits)
    control = tmp_path / "branchy.py"
    control.write_text(
        'def f(task, t):\n    if task == "qa":\n        return t in ("tag", "cls")\n    return "x" != t\n'
    )
    assert len(task_name_comparisons([control], set(tasks.TASKS))) == 2


def import_graph(root, package):
    """{module: modules of the package it imports} from the source (imports inside functions included)."""
    modules = {}
    for p in root.rglob("*.py"):
        name = ".".join(p.relative_to(root.parent).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = p
    graph = collections.defaultdict(set)
    for name, p in modules.items():
        for node in ast.walk(ast.parse(p.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            graph[name] |= {t for t in targets if t in modules and t != name and t.startswith(package)}
    return graph


def cycles(graph):
    """Strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles_between_modules_or_subpackages():
    """Module imports (lazy ones too) form no cycle, nor do the subpackages' (vauflow.<part>); control: a cycle is
    found where there is one."""
    graph = import_graph(PACKAGE, "vauflow")
    assert cycles(graph) == []
    parts = collections.defaultdict(set)
    for a, bs in graph.items():
        for b in bs:
            pa, pb = ".".join(a.split(".")[:2]), ".".join(b.split(".")[:2])
            if pa != pb:
                parts[pa].add(pb)
    assert cycles(parts) == []
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_function_over_100_lines():
    long = [
        f"{p.relative_to(REPO)}:{n.lineno} {n.name} ({n.end_lineno - n.lineno + 1} lines)"
        for p in sorted(PACKAGE.rglob("*.py"))
        for n in ast.walk(ast.parse(p.read_text()))
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > 100
    ]
    assert long == []


def test_the_workflow_reads_the_config_through_the_plan_and_names_paths_in_inputs_outputs_params():
    """common.smk imports vauflow.plan only; no shell line holds a results/, resources/, logs/ or checkpoints/ path
    (inputs, outputs and params name them); the control finds one."""
    imports = re.findall(r"^(?:from|import) (vauflow[\w.]*)", (REPO / "workflow/rules/common.smk").read_text(), re.M)
    assert imports == ["vauflow.plan"]

    def hard_coded(text):
        shells = re.findall(r"shell:\n((?:\s+\".*\"\n)+)", text)
        return [s for s in shells if re.search(r"(?<![{\w])(results|resources|logs|checkpoints)/", s)]

    for smk in [REPO / "Snakefile", *sorted((REPO / "workflow/rules").glob("*.smk"))]:
        assert hard_coded(smk.read_text()) == [], smk.name
    assert hard_coded('    shell:\n        "vauflow x --out results/tables > {log:q}"\n')


def test_commands_are_declared_beside_the_code_they_run():
    """Every `vauflow` command is declared in the part of the package whose module runs it, once; the CLI module
    holds no command of its own but `launch` (it runs the CLI itself)."""
    seen = collections.Counter(c.words for c in all_commands())
    assert max(seen.values()) == 1
    for declared in DECLARED_IN:
        for c in importlib.import_module(declared).COMMANDS:
            module = c.run.split(":")[0]
            assert module.startswith(declared) or c.words == ("launch",), (c.words, declared, module)
            assert callable(c.function())
