"""MediaPipe Hands' own pipeline (HandLandmarker, Tasks API, CPU), one frame per request: the peer that
``bench/pipeline.py`` times beside ours. Runs in ``.venv-mediapipe`` (mediapipe 0.10.21 pins numpy < 2).

    python bench/mediapipe_worker.py IMAGE_PATH TASK_PATH
    stdin: "IMAGE 2" / "VIDEO 1" (running mode, num_hands) per line
    stdout: {"ready": version} once, then {"s": seconds of the call, "hands": hands found} per request
"""

import json
import sys
import time

import cv2
import mediapipe as mp
from mediapipe.tasks import python as mpp
from mediapipe.tasks.python import vision


def main() -> None:
    image_path, task_path = sys.argv[1:3]
    rgb = cv2.cvtColor(cv2.imread(image_path), cv2.COLOR_BGR2RGB)
    landmarkers, stamps = {}, {}
    for mode in ("IMAGE", "VIDEO"):
        for n in (1, 2):
            options = vision.HandLandmarkerOptions(
                base_options=mpp.BaseOptions(model_asset_path=task_path),
                running_mode=getattr(vision.RunningMode, mode),
                num_hands=n,
            )
            landmarkers[mode, n] = vision.HandLandmarker.create_from_options(options)
            stamps[mode, n] = 0
    print(json.dumps({"ready": mp.__version__}), flush=True)
    for line in sys.stdin:
        mode, n = line.split()
        key = (mode, int(n))
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)  # a new frame, as from a camera
        t0 = time.perf_counter()
        if mode == "IMAGE":
            result = landmarkers[key].detect(image)
        else:
            stamps[key] += 33  # 30 Hz timestamps (ms)
            result = landmarkers[key].detect_for_video(image, stamps[key])
        dt = time.perf_counter() - t0
        print(json.dumps({"s": dt, "hands": len(result.hand_landmarks)}), flush=True)


if __name__ == "__main__":
    main()
