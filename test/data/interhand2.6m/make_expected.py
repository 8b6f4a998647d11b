"""Derive expected.json (hand boxes + sides) from mmpose's InterHand2.6M test annotations.

Run once, by hand, with the three mmpose json files (open-mmlab/mmpose, tests/data/interhand2.6m/):
    python test/data/interhand2.6m/make_expected.py DIR_WITH_MMPOSE_JSONS image29590.jpg image44669.jpg
Joints (mm, world) go to the camera frame as X_cam = R (X_world - campos), then through the pinhole
(focal, princpt). Right hand = joints 0-20, left = 21-41. The box is the tight box of the valid joints.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def main(src: Path, names: list[str]) -> None:
    data = json.loads((src / "test_interhand2.6m_data.json").read_text())
    cams = json.loads((src / "test_interhand2.6m_camera.json").read_text())
    joints = json.loads((src / "test_interhand2.6m_joint_3d.json").read_text())
    out = {}
    for image in data["images"]:
        if image["file_name"] not in names:
            continue
        cap, cam, frame = str(image["capture"]), image["camera"], str(image["frame_idx"])
        R = np.asarray(cams[cap]["camrot"][cam], dtype=np.float64)
        campos = np.asarray(cams[cap]["campos"][cam], dtype=np.float64)
        f = np.asarray(cams[cap]["focal"][cam], dtype=np.float64)
        c = np.asarray(cams[cap]["princpt"][cam], dtype=np.float64)
        entry = joints[cap][frame]
        world = np.asarray(entry["world_coord"], dtype=np.float64)  # (42, 3) mm
        valid = np.asarray(entry["joint_valid"], dtype=bool).reshape(-1)
        cam_pts = (world - campos) @ R.T
        uv = cam_pts[:, :2] / cam_pts[:, 2:3] * f + c
        sides = {"right": slice(0, 21), "left": slice(21, 42)}
        present = list(sides) if entry["hand_type"] == "interacting" else [entry["hand_type"]]
        hands = []
        for side in present:
            pts = uv[sides[side]][valid[sides[side]]]
            if len(pts) < 10:
                continue
            x0, y0 = pts.min(0)
            x1, y1 = pts.max(0)
            hands.append({"side": side, "joints_box_xyxy": [round(float(v), 1) for v in (x0, y0, x1, y1)]})
        out[image["file_name"]] = {
            "width": image["width"],
            "height": image["height"],
            "hand_type": entry["hand_type"],
            "seq_name": image["seq_name"],
            "hands": hands,
        }
    (HERE / "expected.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
