#!/usr/bin/env python3
"""Write the bundled example robot hand, wildhands/assets/urdf/wildhands_example_hand.urdf, from the open hand
model (wildhands.retarget.example_hand). Deterministic: rerunning it reproduces the committed file (a test
checks they agree). Usage: python scripts/make_example_hand_urdf.py
"""

from __future__ import annotations

from wildhands.retarget.example_hand import EXAMPLE_HAND_URDF, example_hand_urdf

if __name__ == "__main__":
    EXAMPLE_HAND_URDF.parent.mkdir(parents=True, exist_ok=True)
    EXAMPLE_HAND_URDF.write_text(example_hand_urdf())
    print(f"wrote {EXAMPLE_HAND_URDF}")
