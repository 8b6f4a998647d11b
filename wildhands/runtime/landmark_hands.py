"""Hands from real-trained landmarks: landmark pass per hand box -> initial hand -> refinement -> hand model.

The image model trained here on renders answers a constant hand on real photos; the hand-landmark network
the detector already runs (MediaPipe's, trained on real hands) reads real hands well. This path lifts its
21 2D landmarks and 21 world landmarks into our hand model in the camera frame, through the real camera
model (:mod:`wildhands.runtime.refine`), and returns the same :class:`HandEstimate` as the image model.

Left hands are fitted as right hands in the mirrored image (``CameraModel.mirrored``: u -> width - 1 - u;
world landmarks x -> -x), then mirrored back, as the image model's path does.

Pixels: ``CameraModel``'s pixel-centre convention (the detector's continuous coordinates minus 0.5).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from wildhands.geometry.camera import CameraModel
from wildhands.geometry.crop import square_box_from_xyxy
from wildhands.geometry.perspective_crop import CROP_MODES
from wildhands.geometry.rotations import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    mirror_axis_angle,
    mirror_matrix,
)
from wildhands.handmodel.skeleton import HandSkeleton
from wildhands.model.lifting import lift_to_camera, lifting_inputs, unit_rays
from wildhands.runtime.hands import HandEstimate, landmarks_centre_px
from wildhands.runtime.refine import (
    HandFit,
    LandmarkEvidence,
    RefineConfig,
    check_steps,
    initial_fit_from_pnp,
    kabsch,
    refine,
)

logger = logging.getLogger(__name__)

__all__ = ["LandmarkHandsConfig", "LandmarkHands", "evidence_from_detection"]

_S = np.diag([-1.0, 1.0, 1.0])  # mirror about the camera's x = 0 plane


def mirror_hand(keypoints: np.ndarray, wrist_rotation: np.ndarray, pose_aa: np.ndarray):
    """A hand mirrored about the camera's x = 0 plane (left <-> right; its own inverse): keypoints (..., 3),
    wrist rotation (3, 3), joint rotations (..., 3) axis-angle -- how a left hand is fitted as a right one
    in the mirrored image and mirrored back."""
    return keypoints @ _S, mirror_matrix(wrist_rotation), mirror_axis_angle(pose_aa)


@dataclass(frozen=True)
class LandmarkHandsConfig:
    """refine: fit the hand model to the landmarks (False: the initial answer, PnP-placed).
    refine_config: the fit's weights and iterations.
    residual_scale_px: the confidence is multiplied by ``1 / (1 + (residual / residual_scale_px)^2)``.
    box_scale: ``HandEstimate.crop_box`` is this x the box's longest side, the square the image model would
        cut (the pipeline passes its ``PipelineConfig.box_scale``): the tracker sizes the next frame's box
        from it (``tracking.boxes_from_previous``).
    crop_mode: the pipeline's ``PipelineConfig.crop_mode``: with ``'rectified'`` the landmark passes see
        each hand through a virtual camera looking at it (``MediaPipeHandDetector``'s ``camera``), on every
        camera; ``'box'`` and ``'auto'`` cut MediaPipe's plain rect out of the image. (Not ``'auto'``'s
        fisheye-only rule of the image model: through the view, synthetic fisheye hands far off the axis
        were found less often, pinhole and radial-tangential ones more often and read better in their
        periphery; docs/landmark-estimator.md, "Landmark passes through the lens".)
    tracked_steps: with ``refine``, a hand whose box carries its previous frame's estimate
        (``HandBox.previous``: the tracker's boxes) starts its fit from that estimate, with this many
        Levenberg-Marquardt steps, instead of from the lifting head's answer with
        ``refine_config.iterations`` (a fresh detection always starts from the head). 0 (default): off.
        ``bench/refine_budget.py``: 2 steps take the fit to under half its time (docs/engines.md).
    """

    refine: bool = True
    refine_config: RefineConfig = field(default_factory=RefineConfig)
    residual_scale_px: float = 15.0
    box_scale: float = 1.5
    crop_mode: str = "auto"
    tracked_steps: int = 0

    def __post_init__(self) -> None:
        if self.crop_mode not in CROP_MODES:
            raise ValueError(f"crop_mode={self.crop_mode!r} not in {set(CROP_MODES)}")
        check_steps("tracked_steps", self.tracked_steps)

    def view_camera(self, camera: CameraModel) -> CameraModel | None:
        """``camera`` where the landmark passes see hands through it (``crop_mode='rectified'``), else None:
        the ``camera`` argument of the detector's landmark passes."""
        return camera if self.crop_mode == "rectified" else None


def evidence_from_detection(detection, mirrored_width: int | None = None) -> LandmarkEvidence:
    """A detector's HandDetection (landmarks in continuous px, world landmarks in m) -> LandmarkEvidence
    in pixel-centre coordinates; ``mirrored_width``: mirror it (u -> width - 1 - u, world x -> -x)."""
    uv = landmarks_centre_px(detection)
    world = np.asarray(detection.landmarks_world_m, dtype=np.float64).copy()
    if mirrored_width is not None:
        uv[:, 0] = mirrored_width - 1 - uv[:, 0]
        world[:, 0] = -world[:, 0]
    return LandmarkEvidence(landmarks_px=uv, world_m=world)


class LandmarkHands:
    """``(image, camera, boxes) -> list[HandEstimate]`` from the landmark network.

    Args:
        detector: a MediaPipeHandDetector (its ``landmarks_for_box`` runs the landmark pass of a box that
            carries no landmarks).
        hand_model: the right hand model (open or MANO) that gives the mesh.
        grasp_head: ``GraspHead`` on (16 rotation matrices, β) -> logits (e.g. the shipped image model's);
            None gives uniform grasp probabilities.
    """

    def __init__(
        self, detector, hand_model, grasp_head=None, config: LandmarkHandsConfig | None = None, lifter=None
    ):
        self.detector = detector
        self.hand_model = hand_model
        self.grasp_head = grasp_head
        self.lifter = lifter  # a LiftingNet: the initial answer; None: PnP of the world landmarks
        self.config = config or LandmarkHandsConfig()
        #: the fit's settings; joint limits left open (None) follow the lifting head's pose convention
        self.refine_config = self.config.refine_config
        if self.refine_config.joint_limits is None and lifter is not None:
            convention = lifter.config.pose_convention
            self.refine_config = dataclasses.replace(self.refine_config, joint_limits=convention)
        self.skeleton = HandSkeleton(hand_model)
        #: milliseconds of the last call: landmarks, fit, hand_layer
        self.timings: dict[str, float] = {}

    def detections(self, image_rgb: np.ndarray, boxes: list, camera: CameraModel | None = None) -> list:
        """One landmark detection (or None: no hand there) per box: the detector's
        ``landmarks_for_box`` (the box's own landmarks, one pass on a tracked hand's rect, or two on a
        given box; through ``camera`` where ``crop_mode`` says so); without a detector, the box's own
        landmarks only."""
        if self.detector is None:
            return [getattr(box, "landmarks", None) for box in boxes]
        view = None if camera is None else self.config.view_camera(camera)
        lens = {} if view is None else {"camera": view}  # a detector without lens views needs no keyword
        return [self.detector.landmarks_for_box(image_rgb, box, **lens) for box in boxes]

    def fit(
        self, camera: CameraModel, boxes: list, detections: list
    ) -> list[tuple[int, HandFit, CameraModel]]:
        """Fitted hands (box index, fit in the canonical right-hand frame, the camera of that frame). Each
        starts from the lifting head's answer (PnP's without a head), or, with ``tracked_steps``, from its
        previous frame's estimate where its box carries one (:meth:`tracked_start`); the two kinds are
        refined with their own numbers of steps."""
        items, evidence, cameras, starts, tracked, priors = [], [], [], [], [], []
        mirrored = camera.mirrored()
        for i, (box, det) in enumerate(zip(boxes, detections)):
            if det is None:
                continue
            left = box.side == "left"
            cam = mirrored if left else camera
            ev = evidence_from_detection(det, camera.width if left else None)
            ev.rays = unit_rays(cam, ev.landmarks_px)  # once: the lifting head and the fit both need them
            start = self.tracked_start(box, ev)
            from_track = start is not None
            if start is None and self.lifter is None:
                try:
                    start = initial_fit_from_pnp(ev, cam, self.skeleton)
                except ValueError as exc:
                    logger.debug("hand %d: no initial fit (%s)", i, exc)
                    continue
            items.append(i)
            evidence.append(ev)
            cameras.append(cam)
            starts.append(start)
            tracked.append(from_track)
            priors.append(getattr(box, "betas", None))
        if not items:
            return []
        head = [k for k, s in enumerate(starts) if s is None]  # the lifting head's hands
        if head:
            for k, fit in zip(head, self.lift([evidence[k] for k in head], [cameras[k] for k in head])):
                starts[k] = fit
        fits: list = [None] * len(items)
        steps = self.refine_config.iterations if self.config.refine else 0
        for group, n in ((False, steps), (True, self.config.tracked_steps)):
            ks = [k for k in range(len(items)) if tracked[k] == group]
            if ks:
                config = dataclasses.replace(self.refine_config, iterations=n)
                got = refine([evidence[k] for k in ks], [cameras[k] for k in ks], self.skeleton,
                             [starts[k] for k in ks], config, [priors[k] for k in ks])  # fmt: skip
                for k, fit in zip(ks, got):
                    fits[k] = fit
        return list(zip(items, fits, cameras))  # refine() filled keypoints and residuals

    def tracked_start(self, box, evidence: LandmarkEvidence) -> HandFit | None:
        """Where the fit of ``box`` starts when its hand was estimated in the previous frame
        (``HandBox.previous``, the tracker's) and ``tracked_steps`` asks for it (with ``refine``): that
        estimate's parameters in the canonical right-hand frame (a left hand's mirrored, as the fit sees
        it), the world landmarks' rotation found anew from ``evidence`` (this frame's, canonical). None
        otherwise, or where the estimate is of the other side or not finite."""
        prev = getattr(box, "previous", None)
        if not (self.config.refine and self.config.tracked_steps) or prev is None or prev.side != box.side:
            return None
        kp = np.asarray(prev.keypoints_cam_m, np.float64)
        rot = np.asarray(prev.wrist_rotation, np.float64)
        pose = np.asarray(prev.joint_rotations_aa, np.float64).reshape(15, 3)
        betas = np.asarray(prev.betas, np.float64)
        if box.side == "left":  # back into the canonical frame __call__ mirrored it out of
            kp, rot, pose = mirror_hand(kp, rot, pose)
        if not all(np.isfinite(a).all() for a in (kp, rot, pose, betas)) or evidence.world_m is None:
            return None
        wrist_aa = cv2.Rodrigues(rot)[0].ravel()
        return self._start([evidence], wrist_aa[None], pose[None], betas[None], kp[None, 0])[0]

    def _start(
        self,
        evidence: list[LandmarkEvidence],
        wrist_aa: np.ndarray,
        pose_aa: np.ndarray,
        betas: np.ndarray,
        wrist_m: np.ndarray,
    ) -> list[HandFit]:
        """Initial fits (canonical frame) of hands given by their wrist rotation (N, 3), joint rotations
        (N, 15, 3), shape (N, 10) and wrist position (N, 3) m: the skeleton's translation (it turns about its
        rest wrist joint of that shape: wrist = rest wrist + transl), and the rotation that turns each
        hand's world landmarks onto its keypoints."""
        transl = wrist_m - self.skeleton.rest(betas)[0][:, 0]
        kp = self.skeleton(betas, wrist_aa, pose_aa, transl)
        fits = []
        for k, e in enumerate(evidence):
            r = kabsch(e.world_m - e.world_m[0], kp[k] - kp[k, 0])  # the world landmarks' frame -> camera
            fits.append(HandFit(wrist_aa[k], pose_aa[k], betas[k], transl[k], cv2.Rodrigues(r)[0].ravel()))
        return fits

    def lift(self, evidence: list[LandmarkEvidence], cameras: list[CameraModel]) -> list[HandFit]:
        """The lifting head's answers (right hands, canonical frame) as initial fits."""
        rays = None if any(e.rays is None for e in evidence) else np.stack([e.rays for e in evidence])
        inputs = lifting_inputs(
            np.stack([e.landmarks_px for e in evidence]),
            np.stack([e.world_m for e in evidence]),
            cameras,
            rays,
        )
        with torch.inference_mode():
            t = inputs.tensors()
            out = self.lifter(*t)
            wrist_rot, joint_rot, betas, transl = lift_to_camera(
                out, t[3], torch.from_numpy(inputs.rotation).float()
            )
            aa = matrix_to_axis_angle(torch.cat([wrist_rot[:, None], joint_rot], dim=1).double()).numpy()
        # the head's translation is the wrist's position
        return self._start(evidence, aa[:, 0], aa[:, 1:], betas.double().numpy(), transl.double().numpy())

    def __call__(self, image_rgb: np.ndarray, camera: CameraModel, boxes: list) -> list:
        t0 = time.perf_counter()
        detections = self.detections(image_rgb, boxes, camera)
        t1 = time.perf_counter()
        fitted = self.fit(camera, boxes, detections)
        t2 = time.perf_counter()
        if not fitted:
            self.timings = {"landmarks": 1e3 * (t1 - t0), "fit": 1e3 * (t2 - t1), "hand_layer": 0.0}
            return []
        fits = [f for _, f, _ in fitted]
        betas = torch.as_tensor(np.stack([f.betas for f in fits]), dtype=torch.float32)
        orient = axis_angle_to_matrix(torch.as_tensor(np.stack([f.global_orient for f in fits])))
        pose = axis_angle_to_matrix(torch.as_tensor(np.stack([f.hand_pose for f in fits])))
        transl = torch.as_tensor(np.stack([f.transl for f in fits]), dtype=torch.float32)
        with torch.inference_mode():
            out = self.hand_model(
                betas=betas, global_orient=orient.float(), hand_pose=pose.float(), transl=transl
            )
            if self.grasp_head is not None:
                rotmats = torch.cat([orient[:, None], pose], dim=1).float()
                grasp = torch.softmax(self.grasp_head(rotmats, betas).double(), dim=1).numpy()
            else:
                grasp = np.full((len(fits), 8), 1.0 / 8)
        vertices = out.vertices.double().numpy()
        faces = out.faces.cpu().numpy() if isinstance(out.faces, torch.Tensor) else np.asarray(out.faces)
        left_faces = faces[:, ::-1].copy()  # mirroring flips the winding
        wrist_rotations = orient.numpy()
        hands = []
        for k, (i, fit, _) in enumerate(fitted):
            box, det = boxes[i], detections[i]
            kp, verts, R = fit.keypoints_cam_m, vertices[k], wrist_rotations[k]
            pose_aa, hand_faces = fit.hand_pose, faces
            if box.side == "left":
                kp, R, pose_aa = mirror_hand(kp, R, pose_aa)
                verts, hand_faces = verts @ _S, left_faces
            residual = float(fit.residual_px) if np.isfinite(fit.residual_px) else float("inf")
            fit_quality = 1.0 / (1.0 + (residual / self.config.residual_scale_px) ** 2)
            presence = float(getattr(det, "presence", 1.0))
            hands.append(
                HandEstimate(
                    side=box.side,
                    side_confidence=float(box.side_score),
                    detection_confidence=float(box.score),
                    confidence=float(box.score * box.side_score * presence * fit_quality),
                    crop_box=square_box_from_xyxy(
                        box.xyxy_px, (camera.width, camera.height), self.config.box_scale
                    ),
                    keypoints_cam_m=kp,
                    keypoints_px=camera.project(kp),
                    vertices_cam_m=verts,
                    faces=hand_faces,
                    wrist_rotation=R,
                    joint_rotations_aa=pose_aa,
                    betas=fit.betas.copy(),
                    grasp_probabilities=grasp[k],
                    intrinsics_estimated=bool(camera.estimated),
                    hand_model=str(getattr(self.hand_model, "name", "open")),
                    fit_residual_px=residual,
                    landmarks_px=landmarks_centre_px(det),
                )
            )
        self.timings = {
            "landmarks": 1e3 * (t1 - t0),
            "fit": 1e3 * (t2 - t1),
            "hand_layer": 1e3 * (time.perf_counter() - t2),
        }
        return hands
