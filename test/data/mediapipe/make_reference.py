"""Record the `mediapipe` package's own hand landmarks on our test images: reference.json.

Run by hand in a throw-away venv that has mediapipe==0.10.21 (it needs numpy<2, so never in the project
venv), from the repository root:
    python -m venv /tmp/mpvenv && /tmp/mpvenv/bin/pip install mediapipe==0.10.21
    /tmp/mpvenv/bin/python test/data/mediapipe/make_reference.py
Settings: static_image_mode=True, max_num_hands=2, model_complexity=1 (the *_full models),
min_detection_confidence=0.5. Labels are MediaPipe's (selfie convention), unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import mediapipe as mp
import numpy as np

REPO = Path(__file__).resolve().parents[3]
IMAGES = ("wildhands/assets/sample/image.png", "test/data/interhand2.6m/image44669.jpg")


def main() -> None:
    hands = mp.solutions.hands.Hands(
        static_image_mode=True, max_num_hands=2, model_complexity=1, min_detection_confidence=0.5
    )
    out = {"mediapipe_version": mp.__version__, "images": {}}
    for rel in IMAGES:
        image = cv2.cvtColor(cv2.imread(str(REPO / rel)), cv2.COLOR_BGR2RGB)
        h, w = image.shape[:2]
        result = hands.process(image)
        found = []
        for lm, handed in zip(result.multi_hand_landmarks or [], result.multi_handedness or []):
            pts = np.array([[p.x * w, p.y * h] for p in lm.landmark])
            label = handed.classification[0]
            found.append(
                {
                    "label_selfie": label.label,
                    "label_score": round(float(label.score), 4),
                    "landmarks_px": np.round(pts, 2).tolist(),
                }
            )
        out["images"][rel] = found
    (Path(__file__).parent / "reference.json").write_text(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
