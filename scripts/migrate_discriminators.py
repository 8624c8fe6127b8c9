"""Give the training folders of a run made before discriminator.pt existed their discriminator.pt.

The realism rule reads the GAN methods' final discriminator from
``results/train/{method}/{codec}/{setting}/discriminator.pt``. A run made
before that file existed holds the same weights in ``checkpoint.pt``, which
the trainer saves at the last step next to ``model.pt``; this script writes
them out so that the GAN methods need not be retrained. Folders whose
training has not finished (no ``model.pt``) are left alone.

    python scripts/migrate_discriminators.py [RESULTS]     # default: results
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from debiasqe.train import checkpoint as ckpt  # noqa: E402


def migrate(results: Path) -> int:
    written = 0
    for model in sorted(results.glob("train/*/*/*/" + ckpt.MODEL_NAME)):
        folder = model.parent
        dest, state = folder / ckpt.DISCRIMINATOR_NAME, folder / ckpt.CHECKPOINT_NAME
        if dest.exists() or not state.exists():
            continue
        meta = ckpt.model_meta(model)
        final = ckpt.load(state)
        if "discriminator" not in final:
            continue  # a fidelity method
        if int(final["step"]) != int(meta["step"]):
            print(f"{state}: step {final['step']} is not the model's {meta['step']}; skipped", file=sys.stderr)
            continue
        ckpt.save(dest, {"state_dict": final["discriminator"], "meta": meta})
        print(dest)
        written += 1
    return written


if __name__ == "__main__":
    n = migrate(Path(sys.argv[1] if len(sys.argv) > 1 else "results"))
    print(f"{n} discriminator.pt written", file=sys.stderr)
