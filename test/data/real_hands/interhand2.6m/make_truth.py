"""Re-derive truth.json from mmpose's InterHand2.6M test annotations (see README.md).

    python test/data/real_hands/interhand2.6m/make_truth.py MMPOSE/tests/data/interhand2.6m

The conversion (world mm -> camera m, InterHand2.6M joint order -> ours, projection) is
``wildhands.eval.real_hands.interhand_truth``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[3]))

from wildhands.eval.real_hands import interhand_truth, write_truth  # noqa: E402

IMAGES = ["image2017.jpg", "image29590.jpg", "image44669.jpg", "image69148.jpg"]

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    write_truth(interhand_truth(Path(sys.argv[1]), IMAGES), HERE / "truth.json")
