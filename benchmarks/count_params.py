"""Parameter counts of every network, as the markdown table in docs/networks.md.

    python benchmarks/count_params.py            # print the table
    python benchmarks/count_params.py --write    # rewrite the table in docs/networks.md
    python benchmarks/count_params.py --check    # exit 1 if the doc table is stale

tests/test_archs.py runs the --check comparison, so the doc cannot drift.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from debiasqe.archs import (  # noqa: E402
    DISCRIMINATORS,
    GENERATORS,
    VGG19_CITATION,
    VGG19_LAYERS,
    build_discriminator,
    build_generator,
    count_parameters,
)
from debiasqe.archs.vgg import _build_features  # noqa: E402

DOC = ROOT / "docs" / "networks.md"
BEGIN = "<!-- count_params.py: begin -->"
END = "<!-- count_params.py: end -->"


def _fmt_kwargs(kw) -> str:
    return ", ".join(f"{k}={v}" for k, v in kw.items())


def rows() -> list[tuple[str, ...]]:
    out = []
    for name, e in GENERATORS.items():
        for size in ("paper", "tiny"):
            n = count_parameters(build_generator(name, size))
            out.append((f"`{name}`", "generator", size, "3", f"{n:,}", _fmt_kwargs(e.kwargs(size)), str(e.citation)))
    for kind, e in DISCRIMINATORS.items():
        for size in ("paper", "tiny"):
            for in_ch in (3, 6):
                input_sizes = (128, 256) if kind == "vgg" else (None,)
                for isz in input_sizes:
                    d = build_discriminator(kind, in_ch, size, input_size=isz or 128)
                    role = ("conditional " if in_ch == 6 else "") + "discriminator"
                    label = f"`{kind}`" + (f" ({isz}²)" if isz else "")
                    out.append((label, role, size, str(in_ch), f"{count_parameters(d):,}", _fmt_kwargs(e.kwargs(size)), str(e.citation)))
    feats = _build_features(VGG19_LAYERS["conv5_4"] + 1)
    n = sum(p.numel() for p in feats.parameters())
    out.append(("`vgg19` features to conv5_4", "frozen feature extractor", "fixed", "3", f"{n:,}", "torchvision layout", str(VGG19_CITATION)))
    return out


def table() -> str:
    head = ("network", "role", "size", "in ch", "parameters", "kwargs", "source paper")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows():
        lines.append("| " + " | ".join(r) + " |")
    return "\n".join(lines)


def doc_table(text: str) -> str:
    start = text.index(BEGIN) + len(BEGIN)
    return text[start:text.index(END)].strip()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--write", action="store_true", help="rewrite the table in docs/networks.md")
    g.add_argument("--check", action="store_true", help="fail if docs/networks.md is stale")
    args = ap.parse_args(argv)
    t = table()
    if args.write:
        text = DOC.read_text()
        start = text.index(BEGIN) + len(BEGIN)
        DOC.write_text(text[:start] + "\n" + t + "\n" + text[text.index(END):])
    elif args.check:
        if doc_table(DOC.read_text()) != t:
            print(f"{DOC}: parameter table is stale; run python benchmarks/count_params.py --write", file=sys.stderr)
            return 1
    else:
        print(t)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
