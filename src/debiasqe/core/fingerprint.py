"""A fingerprint of the code a stage runs, so that upgrading it remakes its outputs.

Each rule passes ``stage_fingerprint(stage)`` as a ``params`` value; Snakemake's
params trigger then reruns exactly the jobs whose stage code changed (and,
through their outputs, what depends on them). The fingerprint covers the
stage's command module and every debiasqe module it imports, directly or not,
lazily inside functions included (found by reading the source, not by
importing it, so computing it costs no torch start-up). Each module counts by
its syntax tree without docstrings: a comment, a docstring or a reformatting
does not retrain a 400k-iteration GAN; a changed statement does.
"""

from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

PACKAGE = "debiasqe"
ROOT = Path(__file__).resolve().parents[1]
DATA_SUFFIXES = (".yaml", ".json")
#: how a registry package imports all its modules (see archs/__init__.py)
AUTO_IMPORT = "pkgutil.iter_modules(__path__)"

#: the module whose run functions each stage's commands call (the rules' stage names)
STAGE_ENTRIES = {
    "data": "debiasqe.data.cli",
    "compress": "debiasqe.compress.cli",
    "train": "debiasqe.train.cli",
    "enhance": "debiasqe.enhance.cli",
    "evaluate": "debiasqe.evaluate.cli",
    "weights": "debiasqe.weights.cli",
    "report": "debiasqe.report.cli",
    "compare": "debiasqe.compare.cli",
}


def module_file(name: str) -> Path | None:
    """The source file of a debiasqe module (``None`` when it is not one)."""
    parts = name.split(".")[1:]
    if not parts:
        return ROOT / "__init__.py"
    for candidate in (ROOT.joinpath(*parts[:-1], parts[-1] + ".py"), ROOT.joinpath(*parts, "__init__.py")):
        if candidate.is_file():
            return candidate
    return None


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def imported_modules(name: str) -> set[str]:
    """The debiasqe modules ``name`` imports anywhere in its source, and the packages above them."""
    path = module_file(name)
    tree = ast.parse(path.read_text("utf-8"))
    here = name if _is_package(path) else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            bases = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from pkg import mod` imports a module too
            bases = [base, *(f"{base}.{a.name}" for a in node.names)]
        else:
            continue
        found.update(b for b in bases if b.split(".")[0] == PACKAGE and module_file(b) is not None)
    # importing a.b.c runs a/__init__ and a/b/__init__ too
    for mod in list(found):
        parts = mod.split(".")
        found.update(".".join(parts[:i]) for i in range(1, len(parts)))
    if _is_package(path) and AUTO_IMPORT in path.read_text("utf-8"):
        # a registry package (archs, codecs) imports every module in it
        found.update(f"{name}.{p.stem}" for p in path.parent.glob("*.py") if p.name != "__init__.py")
        found.update(f"{name}.{p.parent.name}" for p in path.parent.glob("*/__init__.py"))
    return found - {name}


def closure(entry: str) -> list[str]:
    """``entry`` and every debiasqe module it reaches, sorted."""
    seen, todo = set(), [entry]
    while todo:
        mod = todo.pop()
        if mod in seen:
            continue
        seen.add(mod)
        todo.extend(imported_modules(mod) - seen)
    return sorted(seen)


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


@lru_cache(maxsize=None)
def module_digest(name: str) -> str:
    """sha256 of a module's syntax tree without docstrings (comments and layout do not count)."""
    tree = _without_docstrings(ast.parse(module_file(name).read_text("utf-8")))
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()


def _data_files(modules: list[str]) -> list[Path]:
    """Package data beside the modules (e.g. report/paper_values.yaml), which their code reads."""
    folders = {module_file(m).parent for m in modules}
    return sorted(p for d in folders for ext in DATA_SUFFIXES for p in d.glob(f"*{ext}"))


def stage_fingerprint(stage: str) -> str:
    """16 hex digits naming the code of ``stage`` (a key of :data:`STAGE_ENTRIES`)."""
    h = hashlib.sha256()
    modules = closure(STAGE_ENTRIES[stage])
    for mod in modules:
        h.update(f"{mod}:{module_digest(mod)}\n".encode())
    for path in _data_files(modules):
        h.update(f"{path.relative_to(ROOT).as_posix()}:".encode() + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:16]
