#!/usr/bin/env python3
"""Check the library's public API: type hints and numpydoc docstrings.

A public function is a module-level function, or a method of a module-level class, whose
name does not start with ``_``, in ``workflow/scripts/astrid`` (``__main__`` modules and
properties aside). Each must have:

* a type hint on every parameter (``self``/``cls`` aside) and on its return
  (``__init__`` aside);
* a docstring; when it takes parameters, a numpydoc ``Parameters`` section naming each of
  them (``a, b : float`` names two); when it returns something (its return hint is not
  ``None``), a ``Returns`` (or ``Yields``) section.

Rule scripts (``workflow/scripts/*.py``) open with a docstring naming their inputs, outputs
and settings (the words "Input", "Output" and "Setting", or "no settings").

    python tools/check_api.py            # prints each problem; exit 1 if any (make lint)
"""

import ast
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LIBRARY = REPO / "workflow" / "scripts" / "astrid"
SCRIPTS = REPO / "workflow" / "scripts"
SECTION = re.compile(r"^\s*(?P<name>[A-Z][a-z]+)\n\s*-{3,}\s*$", re.M)


def sections(docstring):
    """Section name → its text, of a numpydoc docstring."""
    found = list(SECTION.finditer(docstring))
    return {
        m["name"]: docstring[m.end() : found[i + 1].start() if i + 1 < len(found) else len(docstring)]
        for i, m in enumerate(found)
    }


def documented_parameters(text):
    """Names a Parameters section documents (``a, b : type`` lines, ``*args``)."""
    names = set()
    for line in text.splitlines():
        match = re.match(r"^\s*(\*{0,2}[A-Za-z_][\w]*(?:\s*,\s*\*{0,2}[A-Za-z_]\w*)*)\s*(:|$)", line)
        if match and (match.group(2) == ":" or "," in match.group(1) or line.strip().startswith("*")):
            names |= {n.strip().lstrip("*") for n in match.group(1).split(",")}
    return names


def public_functions(tree):
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_"):
            yield node.name, node, False
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and not item.name.startswith("_"):
                    if not any(isinstance(d, ast.Name) and d.id == "property" for d in item.decorator_list):
                        yield f"{node.name}.{item.name}", item, True


def problems_of_function(name, node, method):
    problems = []
    args = node.args
    params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    if method and params and params[0].arg in ("self", "cls"):
        params = params[1:]
    for star in (args.vararg, args.kwarg):
        if star is not None:
            params.append(star)
    missing = [p.arg for p in params if p.annotation is None]
    if missing:
        problems.append(f"{name}: no type hint for {', '.join(missing)}")
    if node.returns is None:
        problems.append(f"{name}: no return type hint")
    docstring = ast.get_docstring(node, clean=True)
    if not docstring:
        return problems + [f"{name}: no docstring"]
    found = sections(docstring)
    if params:
        if "Parameters" not in found:
            problems.append(f"{name}: docstring has no Parameters section")
        else:
            undocumented = [p.arg for p in params if p.arg not in documented_parameters(found["Parameters"])]
            if undocumented:
                problems.append(f"{name}: Parameters does not name {', '.join(undocumented)}")
    returns_none = isinstance(node.returns, ast.Constant) and node.returns.value is None
    if node.returns is not None and not returns_none and not {"Returns", "Yields"} & set(found):
        problems.append(f"{name}: docstring has no Returns section")
    return problems


def library_problems(library=LIBRARY):
    problems = []
    for path in sorted(library.rglob("*.py")):
        if path.name == "__main__.py":
            continue
        tree = ast.parse(path.read_text())
        where = path.relative_to(library.parent)
        if ast.get_docstring(tree) is None:
            problems.append(f"{where}: no module docstring")
        for name, node, method in public_functions(tree):
            problems += [f"{where}:{node.lineno}: {p}" for p in problems_of_function(name, node, method)]
    return problems


def script_problems(scripts=SCRIPTS):
    problems = []
    for path in sorted(scripts.glob("*.py")):
        docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
        for word in ("Input", "Output"):
            if word not in docstring:
                problems.append(f"{path.relative_to(REPO)}: its docstring does not name its {word.lower()}s")
        if "Setting" not in docstring and "no settings" not in docstring.lower():
            problems.append(f"{path.relative_to(REPO)}: its docstring does not name its settings")
    return problems


def main():
    problems = library_problems() + script_problems()
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problems in the public API (tools/check_api.py)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
