"""Which dr2 module imports which, and whether the layers point one way.

    python benchmarks/import_graph.py            # the dependency list, then cycles and upward imports
    python benchmarks/import_graph.py --summary  # only the package-to-package counts and the problems

Layers, lowest first: dr2common <- dr2prep <- dr2model <- dr2 (the Python API) <- cli. A module may
import from its own layer and the ones below. Imports at a module's top level are what loading it
costs; imports inside functions are marked `(in function)` and count for layering but not for
cycles (they run after both modules are loaded). Reads the source with `ast`; imports nothing.
"""

from __future__ import annotations

import argparse
import ast
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("dr2common", "dr2prep", "dr2model", "dr2", "cli")  # lowest first
PACKAGES = ("dr2common", "dr2prep", "dr2model", "dr2")


@dataclass(frozen=True)
class Edge:
    importer: str
    imported: str
    top_level: bool  # False: inside a function or method
    line: int


def layer(module: str) -> str:
    return module.split(".")[0]


def rank(module: str) -> int:
    return LAYERS.index(layer(module))


def project_modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for the project's packages and cli.py."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")) if (root / package).is_dir() else []:
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    if (root / "cli.py").is_file():
        modules["cli"] = root / "cli.py"
    return modules


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The project module `name` refers to: itself, or the package holding an imported attribute."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _base(module: str, path: Path, level: int) -> str:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(level - 1):
        package = package.rpartition(".")[0]
    return package


def module_edges(module: str, path: Path, modules: dict[str, Path]) -> list[Edge]:
    tree = ast.parse(path.read_text(), str(path))
    top = {id(n) for node in tree.body for n in _top_level_nodes(node)}
    edges = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _base(module, path, node.level) if node.level else ""
            source = ".".join(p for p in (base, node.module or "") if p)
            targets = [f"{source}.{alias.name}" for alias in node.names]  # `from pkg import submodule`
        for target in targets:
            resolved = _resolve(target, modules)
            if resolved and resolved != module:
                edges.append(Edge(module, resolved, id(node) in top, node.lineno))
    return edges


def _top_level_nodes(node: ast.AST):
    """`node` and what it contains, not descending into function bodies."""
    yield node
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        return
    for child in ast.iter_child_nodes(node):
        yield from _top_level_nodes(child)


def all_edges(root: Path = ROOT) -> list[Edge]:
    modules = project_modules(root)
    edges = []
    for module, path in modules.items():
        edges += module_edges(module, path, modules)
    return sorted(set(edges), key=lambda e: (e.importer, e.imported, e.line))


def upward_imports(edges: list[Edge]) -> list[Edge]:
    """Imports of a higher layer than the importer's (dr2 and cli may import anything)."""
    return [e for e in edges if layer(e.importer) not in ("dr2", "cli") and rank(e.imported) > rank(e.importer)]


def import_cycles(edges: list[Edge], top_level_only: bool = False) -> list[list[str]]:
    """Groups of modules that import each other (strongly connected components of more than one module).

    Function-level imports count unless `top_level_only`: a lazy import that closes a loop still
    ties the two modules together.
    """
    graph: dict[str, set[str]] = {}
    for e in edges:
        if e.top_level or not top_level_only:
            graph.setdefault(e.importer, set()).add(e.imported)
            graph.setdefault(e.imported, set())
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def package_of(module: str) -> str:
    """The package a module belongs to, one level below the layer (dr2prep.audio, dr2model, cli)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 else parts[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--summary", action="store_true", help="only the package counts and the problems")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to read (default: this one)")
    args = parser.parse_args()
    edges = all_edges(args.root)
    if not args.summary:
        print("# module -> imported project modules  ((f): inside a function)")
        by_importer: dict[str, list[Edge]] = {}
        for e in edges:
            by_importer.setdefault(e.importer, []).append(e)
        for importer in sorted(by_importer):
            names = sorted({(e.imported, e.top_level) for e in by_importer[importer]})
            shown = [name if top else f"{name} (f)" for name, top in names]
            print(f"{importer}: {', '.join(shown)}")
        print()
    counts: dict[tuple[str, str], list[int]] = {}
    for e in edges:
        a, b = package_of(e.importer), package_of(e.imported)
        if a != b:
            c = counts.setdefault((a, b), [0, 0])
            c[0 if e.top_level else 1] += 1
    print("# package -> package: imports at top level + inside functions")
    for (a, b), (top, inner) in sorted(counts.items()):
        print(f"{a:<22} -> {b:<22} {top:>3} + {inner}")
    upward, cycles = upward_imports(edges), import_cycles(edges)
    print(f"\nupward imports: {len(upward)}")
    for e in upward:
        print(f"  {e.importer}:{e.line} imports {e.imported}{'' if e.top_level else ' (in function)'}")
    print(f"import cycles: {len(cycles)}")
    for cycle in cycles:
        print(f"  {' <-> '.join(cycle)}")
    return 1 if upward or cycles else 0


if __name__ == "__main__":
    sys.exit(main())
