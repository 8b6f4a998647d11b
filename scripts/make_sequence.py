#!/usr/bin/env python3
"""Render the bundled sample sequence (wildhands/assets/sequence): a short egocentric clip with ground truth.

Two hands of the open hand model, drawn with its smooth render skin (forearm and sleeve, per-vertex
shading: ``render.hand_skin``, the synthetic data's ``hand_look: skin``), over the kitchen counter of the
still sample (scripts/make_sample.py), filmed by a wide (~88 deg) camera at 15 Hz: the right hand reaches
in and closes into a grasp while the left hand rests, then leaves the view, so the clip has frames with two
hands and with one. The labelled box is the hand's own silhouette (not its forearm). Written as images +
YAML (the layout ``wildhands demo --images DIR --camera-info FILE`` reads):

    images/000000.jpg ...        RGB frames (JPEG, quality 90)
    camera_info.yaml             intrinsics (camera_calibration format)
    groundtruth.json             {"fps": 15, "frames": [{"image": "images/000000.jpg", "stamp_s": 0.0,
                                  "hands": [{"side", "box_xyxy", "keypoints_cam_m" (21x3, optical frame),
                                  "keypoints_px" (21x2), "grasp"}]}]}

Deterministic: rerunning it reproduces the committed files. Usage: python scripts/make_sequence.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from make_sample import FOCAL, HEIGHT, WIDTH, background, palm_down_orientation, relaxed_pose  # noqa: E402

from wildhands.geometry.camera import CameraModel  # noqa: E402
from wildhands.geometry.camera_yaml import save_camera_yaml  # noqa: E402
from wildhands.geometry.rotations import mirror_axis_angle  # noqa: E402
from wildhands.handmodel import build_hand_model  # noqa: E402
from wildhands.render.hand_skin import PART_HAND, HandSkin, SkinAppearance, albedo  # noqa: E402
from wildhands.render.shaded import ShadingStyle, render_smooth_mesh, shade_vertices  # noqa: E402

FPS = 15.0
FRAMES = 36
SKIN = {"right": (222, 170, 138), "left": (205, 152, 120)}
SLEEVE = {"right": ((70, 72, 78), 0.07), "left": ((40, 55, 95), 0.09)}  # cloth RGB, cuff (m behind the wrist)
STYLE = ShadingStyle()
MIN_BOX_PX = (
    24  # a hand whose visible box (in px) is smaller than this is not labelled (it is leaving the view)
)


def smooth(t: float) -> float:
    """0 -> 1 ease-in-out on t in [0, 1]."""
    t = min(max(t, 0.0), 1.0)
    return t * t * (3 - 2 * t)


def hand_state(side: str, i: int) -> dict:
    """Wrist position (m, optical frame), pitch/yaw (deg), finger curl (rad) of hand ``side`` at frame i."""
    u = i / (FRAMES - 1)
    if side == "right":
        reach = smooth(u / 0.55)  # reaches in over the first half ...
        close = smooth((u - 0.35) / 0.4)  # ... and closes into a grasp
        return {
            "wrist": (0.17 - 0.10 * reach, 0.18 - 0.03 * reach, 0.36 - 0.05 * reach),
            "pitch": 40.0 + 12.0 * reach,
            "yaw": -30.0 + 18.0 * reach + 4.0 * math.sin(6 * u),
            "curl": 0.15 + 0.85 * close,
        }
    leave = smooth((u - 0.45) / 0.35)  # rests, then slides out of the view to the left
    return {
        "wrist": (-0.10 - 0.45 * leave + 0.01 * math.sin(5 * u), 0.15 + 0.01 * math.cos(4 * u), 0.32),
        "pitch": 45.0,
        "yaw": 15.0 + 10.0 * leave,
        "curl": 0.25 + 0.1 * math.sin(3 * u),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=REPO / "wildhands" / "assets" / "sequence")
    args = parser.parse_args()
    (args.out / "images").mkdir(parents=True, exist_ok=True)
    camera = CameraModel.from_K(
        np.array([[FOCAL, 0, (WIDTH - 1) / 2], [0, FOCAL, (HEIGHT - 1) / 2], [0, 0, 1]]), WIDTH, HEIGHT
    )
    base = background(np.random.default_rng(7))
    models = {side: build_hand_model("open", side=side) for side in ("right", "left")}
    skins = {side: HandSkin(side) for side in ("right", "left")}
    looks = {
        side: SkinAppearance(
            SKIN[side], sleeve_rgb=SLEEVE[side][0], fold_phase=1.0 if side == "left" else 0.0
        )
        for side in ("right", "left")
    }
    betas = {"right": 0.5, "left": -0.5}
    frames = []
    for i in range(FRAMES):
        rng = np.random.default_rng(1000 + i)
        image = np.clip(base.astype(np.int16) + rng.normal(0, 2, base.shape).round(), 0, 255).astype(np.uint8)
        labels = []
        # draw the farther hand first so the nearer one occludes it
        states = {side: hand_state(side, i) for side in ("right", "left")}
        for side in sorted(states, key=lambda s: -states[s]["wrist"][2]):
            st = states[side]
            orient, pose = palm_down_orientation(st["pitch"], st["yaw"]), relaxed_pose(st["curl"])
            if side == "left":
                orient, pose = mirror_axis_angle(orient), mirror_axis_angle(pose)
            shape = np.zeros(10)
            shape[0] = betas[side]
            with torch.no_grad():
                out = models[side](
                    betas=torch.tensor(shape[None], dtype=torch.float32),
                    global_orient=torch.tensor(orient[None], dtype=torch.float32),
                    hand_pose=torch.tensor(pose[None], dtype=torch.float32),
                )
            kp = out.keypoints[0].double().numpy()
            shift = np.asarray(st["wrist"]) - kp[0]
            kp = kp + shift
            mesh = skins[side].skin(shape, orient, pose, sleeve_x=SLEEVE[side][1])
            verts = mesh.vertices + shift
            base_rgb, specular = albedo(mesh, looks[side])
            rgb = shade_vertices(
                verts, mesh.normals, base_rgb, STYLE, occlusion=mesh.occlusion(), specular=specular
            )
            image, top = render_smooth_mesh(image, verts, mesh.faces, rgb, camera)
            mask = np.isin(top, np.flatnonzero(mesh.face_part == PART_HAND))  # the hand, not the arm
            ys, xs = np.nonzero(mask)
            if xs.size == 0 or min(np.ptp(xs), np.ptp(ys)) + 1 < MIN_BOX_PX:
                continue
            x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
            labels.append(
                {
                    "side": side,
                    "box_xyxy": [float(x0), float(y0), float(x1), float(y1)],
                    "keypoints_cam_m": np.round(kp, 6).tolist(),
                    "keypoints_px": np.round(camera.project(kp), 3).tolist(),
                    "grasp": "Pow-Circ" if st["curl"] > 0.7 else "Other",
                }
            )
        name = f"images/{i:06d}.jpg"
        cv2.imwrite(
            str(args.out / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90]
        )
        labels.sort(key=lambda h: h["side"])
        frames.append({"image": name, "stamp_s": round(i / FPS, 6), "hands": labels})
    save_camera_yaml(camera, args.out / "camera_info.yaml", camera_name="sequence_egocentric")
    meta = {
        "description": "Rendered by scripts/make_sequence.py from the open hand model (open_hand_v1) with "
        "its render skin (render.hand_skin: forearm, sleeve, per-vertex shading); "
        "keypoints in the camera optical frame (m) and in pixels, boxes xyxy in pixels.",
        "hand_model": "open_hand_v1",
        "fps": FPS,
        "frames": frames,
    }
    (args.out / "groundtruth.json").write_text(json.dumps(meta, indent=1))
    counts = [len(f["hands"]) for f in frames]
    print(f"wrote {args.out}: {FRAMES} frames, hands per frame {min(counts)}..{max(counts)}")


if __name__ == "__main__":
    main()
