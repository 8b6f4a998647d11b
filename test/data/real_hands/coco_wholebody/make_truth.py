"""Re-derive truth.json from mmpose's COCO-WholeBody test annotations (see README.md).

    python test/data/real_hands/coco_wholebody/make_truth.py MMPOSE/tests/data/coco

The conversion (the person's left/right hand keypoints where ``*hand_valid``, labelled = visibility > 0)
is ``wildhands.eval.real_hands.coco_wholebody_truth``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[3]))

from wildhands.eval.real_hands import coco_wholebody_truth, write_truth  # noqa: E402

IMAGES = ["000000000785.jpg", "000000040083.jpg", "000000196141.jpg", "000000197388.jpg"]

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    write_truth(coco_wholebody_truth(Path(sys.argv[1]), IMAGES), HERE / "truth.json")
