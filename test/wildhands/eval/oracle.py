"""A reusable oracle for evaluation tests: a Pipeline whose engine returns the records' true parameters.

The oracle sees the same crop boxes the Pipeline makes (it hooks ``prepare``), so a perfect score tests the
crops, mirroring, the weak-perspective -> translation conversion, the hand-model lift and the evaluator,
not the network. Records need ``global_orient_aa``, ``hand_pose_aa``, ``betas`` and ``keypoints_cam_m``.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from wildhands.data.record import HandRecord
from wildhands.geometry.camera import translation_to_weak_perspective_np
from wildhands.geometry.rotations import mirror_axis_angle
from wildhands.runtime.engines.base import EngineOutput
from wildhands.runtime.pipeline import Pipeline, PipelineConfig


def rotmats(aa: np.ndarray) -> np.ndarray:
    """(N, 3) axis-angle -> (N, 3, 3)."""
    return np.stack(
        [cv2.Rodrigues(np.asarray(a, np.float64).reshape(3, 1))[0] for a in np.reshape(aa, (-1, 3))]
    )


class OracleEngine:
    name = "oracle"

    def __init__(self) -> None:
        self.pending: EngineOutput | None = None
        self.calls = 0

    def infer(self, images, kpe) -> EngineOutput:
        self.calls += 1
        if self.pending is None or len(self.pending.betas) != len(images):
            raise RuntimeError("oracle: no ground truth prepared for these crops")
        return self.pending


class OraclePipeline(Pipeline):
    """A Pipeline that answers with the true parameters of the records whose box and side it is given."""

    def __init__(
        self,
        records: list[HandRecord],
        config: PipelineConfig | None = None,
        wp_from_true_camera: bool = False,
    ) -> None:
        """``wp_from_true_camera``: the weak-perspective camera is that of the record's true camera (what a
        perfect network reads off the image) instead of the camera the pipeline is given; with wrong
        intrinsics the lift then misplaces the hand, as it would for a real network."""
        # the oracle answers in the box crop's camera (the real one, mirrored for left hands)
        super().__init__(dataclasses.replace(config or PipelineConfig(), crop_mode="box", estimator="image"))
        self.truth = {(r.side, tuple(np.round(r.box_xyxy_px, 3))): r for r in records}
        self.engine = OracleEngine()
        self.wp_from_true_camera = wp_from_true_camera

    def prepare(self, image_rgb, camera, boxes, rolls=None):
        prepared = super().prepare(image_rgb, camera, boxes, rolls)
        net_boxes = prepared[3]
        rows = []
        for hand, box in zip(boxes, net_boxes):
            rec = self.truth[(hand.side, tuple(np.round(np.asarray(hand.xyxy_px, np.float64), 3)))]
            cam = rec.camera if self.wp_from_true_camera else camera
            orient, pose, wrist = rec.global_orient_aa, rec.hand_pose_aa, rec.keypoints_cam_m[0]
            if hand.side == "left":  # the network sees the mirrored (right) hand in the mirrored camera
                orient, pose, wrist, cam = (
                    mirror_axis_angle(orient),
                    mirror_axis_angle(pose),
                    wrist * [-1, 1, 1],
                    cam.mirrored(),
                )
            cam_wp = translation_to_weak_perspective_np(
                wrist, box.center, box.size, cam.fx, cam.fy, cam.cx, cam.cy
            )
            rows.append([rotmats(orient)[0], rotmats(pose), rec.betas, np.reshape(cam_wp, 3), np.zeros(8)])
        self.engine.pending = EngineOutput(
            *[np.stack([r[k] for r in rows]).astype(np.float32) for k in range(5)]
        )
        return prepared
