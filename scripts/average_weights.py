#!/usr/bin/env python3
"""Average the weights of trained checkpoints of one architecture into one checkpoint (a "model soup").

    python scripts/average_weights.py --out runs/v4_soup/model.pt \
        runs/mediapipe_hand_224_upright_v4/model.pt runs/mediapipe_hand_224_upright_v4_seed1/model.pt \
        [--weights 1 1]

Meant for runs of one recipe that differ only in their training seed (same init, frames, schedule): the
average is one network of the same speed that depends less on the seed (docs/weights.md). Writes a float32
checkpoint that ``--weights`` of the CLI, the bench scripts and ``scripts/package_weights.py`` read; its
``extra`` names the sources, their steps and the first run's training config (``train``) with every
source's training seed (``train_seeds``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from wildhands.model.checkpoint import average_checkpoints, read_checkpoint, save_checkpoint  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkpoints", type=Path, nargs="+", help="model.pt files of `wildhands train`")
    parser.add_argument("--out", type=Path, required=True, help="checkpoint to write")
    parser.add_argument("--weights", type=float, nargs="+", help="one weight per checkpoint (default: equal)")
    args = parser.parse_args(argv)
    try:
        model, extra = average_checkpoints(args.checkpoints, args.weights)
        trains = [read_checkpoint(p).get("extra", {}).get("train", {}) for p in args.checkpoints]
    except ValueError as e:
        parser.error(str(e))
    extra["train"] = trains[0]
    extra["train_seeds"] = [t.get("seed") for t in trains]
    if None not in extra["steps"]:
        extra["step"] = max(extra["steps"])
    save_checkpoint(args.out, model, extra=extra)
    n = len(args.checkpoints)
    print(f"wrote {args.out}: the average of {n} checkpoints, weights {extra['average_weights']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
