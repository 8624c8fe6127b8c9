"""Each envs/*.yaml lists what its rules' commands import, and nothing they do not.

Conda cannot be reached here, so the check is static. For every rule, its
``conda:`` file and its ``debiasqe <command>``; for every command, the
debiasqe modules it runs (its run function's imports and the cli module,
followed through the package) and the third-party modules they import:

* required: imports at module level along that chain (they run whenever the
  job starts), plus :data:`LAZY_NEEDS`, imports inside functions the command
  calls on its usual path (each with the function that needs it);
* allowed: every import anywhere in the modules the command can reach.

An env file must hold every required package and only allowed ones.
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
from pathlib import Path

import pytest
import yaml

from debiasqe.cli import build_parser
from debiasqe.core import fingerprint as fp

REPO = Path(__file__).resolve().parents[2]
#: import name -> conda/pip package name
PACKAGE_OF = {"PIL": "pillow", "yaml": "pyyaml", "skimage": "scikit-image", "pillow_heif": "pillow-heif"}
#: packages every env may list: the interpreter and pip itself; setuptools<81 pins pyiqa's pkg_resources use
TOOLING = {"python", "pip", "setuptools"}
#: imports inside functions that a command calls every time (or on its documented paths)
LAZY_NEEDS = {
    "prepare": {"skimage",      # data.demo: the embedded demo images
                "imagecodecs"},  # core.imageio: inputs Pillow cannot read (16-bit TIFF, ...)
    "compress": {"imagecodecs",   # compress.codecs.imagecodecs_codecs: webp, avif, jpegxl, jpeg2000
                 "pillow_heif"},  # compress.codecs.bpg: the libheif backend
    "evaluate": {"pyiqa", "timm", "torchvision", "huggingface_hub",  # evaluate.metrics, weights.metric_weights
                 "scipy",       # evaluate.fid: the matrix square root of the Frechet distance
                 "pandas"},     # evaluate.metrics / disparity: the CSV tables
    "fetch-weights": {"pyiqa", "timm", "torchvision", "huggingface_hub"},
    "report": {"pandas", "matplotlib", "bjontegaard", "PIL"},  # tables, figures (residual crops read PNGs)
    "report-overview": {"matplotlib"},
    "train": {"tensorboard"},  # train.progress: torch.utils.tensorboard (logging.tensorboard: true) needs it
}


def _commands() -> dict:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return {name: sp.get_default("func") for name, sp in sub.choices.items()}


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    path = fp.module_file(module)
    here = module if path.name == "__init__.py" else module.rpartition(".")[0]
    parts = here.split(".")
    anchor = parts[: len(parts) - (node.level - 1)]
    return ".".join([*anchor, *([node.module] if node.module else [])])


def _targets(module: str, nodes) -> tuple[set[str], set[str]]:
    """(debiasqe modules, third-party top-level names) that import ``nodes`` of ``module`` name."""
    ours, theirs = set(), set()
    for n in nodes:
        if isinstance(n, ast.Import):
            names = [a.name for a in n.names]
            cands = names
        else:
            base = _resolve(module, n)
            names = [base]
            cands = [base, *(f"{base}.{a.name}" for a in n.names)]
        for name in names:
            top = name.split(".")[0]
            if top not in ("debiasqe", "__future__") and top not in sys.stdlib_module_names:
                theirs.add(top)
        ours.update(c for c in cands if c.split(".")[0] == "debiasqe" and fp.module_file(c) is not None)
    return ours, theirs


def _module_level(tree: ast.Module) -> list:
    found = []

    def visit(body):
        for n in body:
            if isinstance(n, (ast.Import, ast.ImportFrom)):
                found.append(n)
            elif isinstance(n, (ast.If, ast.Try, ast.With)):
                visit(n.body)
                visit(getattr(n, "orelse", []))
                for h in getattr(n, "handlers", []):
                    visit(h.body)
                visit(getattr(n, "finalbody", []))

    visit(tree.body)
    return found


def _walk(entries: set[str], everywhere: bool) -> set[str]:
    """Third-party names imported along the debiasqe modules reachable from ``entries``
    (module-level imports only, or every import when ``everywhere``)."""
    seen, todo, third = set(), list(entries), set()
    while todo:
        mod = todo.pop()
        if mod in seen:
            continue
        seen.add(mod)
        parts = mod.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # parent packages run first
        path = fp.module_file(mod)
        source = path.read_text("utf-8")
        tree = ast.parse(source)
        nodes = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))] if everywhere \
            else _module_level(tree)
        ours, theirs = _targets(mod, nodes)
        if path.name == "__init__.py" and fp.AUTO_IMPORT in source:  # registries import every module
            ours |= {f"{mod}.{p.stem}" for p in path.parent.glob("*.py") if p.name != "__init__.py"}
        todo += sorted(ours - seen)
        third |= theirs
    return third


def command_imports(func) -> tuple[set[str], set[str]]:
    """(required, allowed) third-party import names of a command's run function."""
    module = func.__module__
    fn_nodes = [n for n in ast.walk(ast.parse(inspect.getsource(func)))
                if isinstance(n, (ast.Import, ast.ImportFrom))]
    entries, lazy_third = _targets(module, fn_nodes)
    entries.add(module)
    required = _walk(entries, everywhere=False) | lazy_third
    allowed = _walk(entries, everywhere=True) | required
    return required, allowed


def rule_envs() -> dict[str, tuple[str, str]]:
    """rule -> (env file, debiasqe command) for every rule that runs one."""
    out = {}
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        text = smk.read_text()
        for block in re.split(r"\n(?=rule \w+:|use rule )", text):
            m = re.match(r"rule (\w+):", block)
            if not m:
                continue
            env = re.search(r"conda:\s*\n\s*\"([^\"]+)\"", block)
            cmd = re.search(r"\"debiasqe ([\w-]+)", block)
            if cmd:
                assert env, f"{smk.name}: rule {m[1]} runs debiasqe {cmd[1]} but has no conda: directive"
                out[m[1]] = ((smk.parent / env[1]).resolve().relative_to(REPO).as_posix(), cmd[1])
    return out


def env_packages(path: Path) -> set[str]:
    deps = yaml.safe_load(path.read_text())["dependencies"]
    names = set()
    for d in deps:
        for spec in (d["pip"] if isinstance(d, dict) else [d]):
            names.add(re.split(r"[<>=!~ \[]", spec, maxsplit=1)[0].lower())
    return names


def _package(name: str) -> str:
    return PACKAGE_OF.get(name, name).lower().replace("_", "-")


def test_every_rule_running_a_command_names_an_env_file():
    envs = rule_envs()
    assert {"compress", "train", "enhance", "evaluate", "realism", "tables", "overview"} <= set(envs)
    for rule, (env, _) in envs.items():
        assert (REPO / env).is_file(), f"rule {rule}: {env} missing"


ENV_FILES = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "envs").glob("*.yaml"))


@pytest.mark.parametrize("env", ENV_FILES)
def test_env_lists_what_its_commands_import_and_nothing_else(env):
    commands = _commands()
    used = sorted({cmd for e, cmd in rule_envs().values() if e == env})
    assert used, f"{env}: no rule uses it"
    required, allowed = set(), set()
    for cmd in used:
        req, allow = command_imports(commands[cmd])
        required |= {_package(n) for n in req | LAZY_NEEDS.get(cmd, set())}
        allowed |= {_package(n) for n in allow} | required
    listed = env_packages(REPO / env)
    assert not required - listed, f"{env} ({', '.join(used)}): missing {sorted(required - listed)}"
    extra = listed - allowed - TOOLING - {"tqdm"}  # tqdm: core.progress's bar on a terminal, any stage
    assert not extra, f"{env} ({', '.join(used)}): lists {sorted(extra)}, which its commands never import"


def test_the_static_reading_sees_what_it_should():
    """Hand-checked: the data stage's commands, the report's and training's imports."""
    commands = _commands()
    req, allowed = command_imports(commands["train"])
    assert "torch" in req and "numpy" in req and "pyiqa" not in allowed
    req, _ = command_imports(commands["rate-summary"])
    assert "pandas" in req and "torch" not in req
    req, allowed = command_imports(commands["prepare"])
    assert req == {"PIL", "numpy", "tqdm"} and "torch" not in req  # tqdm: data.download's and core.progress's bars
