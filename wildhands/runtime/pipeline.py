"""The inference pipeline: image + camera + hand boxes -> metric 3D hands in the camera optical frame.

This is everything the ROS node, the CLI and Python users run; it knows nothing of ROS.

    pipeline = Pipeline(PipelineConfig())
    hands = pipeline(image_rgb, camera, [HandBox((x0, y0, x1, y1), side="right")])
    hands[0].keypoints_cam_m   # (21, 3) metres, optical frame (x right, y down, z forward)

Per hand: square crop around the box (``box_scale`` x the box side), left hands mirrored to right hands
(the network and the hand model are right-handed; the result is mirrored back), KPE inputs from the
camera model, one batched engine call for all hands, the hand model for keypoints and mesh, and the
weak-perspective camera turned into a metric translation with the real intrinsics and the crop box. The
network input (crop, mirroring, KPE inputs, normalisation) is made by :mod:`wildhands.model.preprocess`, the
module the training items (:func:`wildhands.train.items.make_item`) use too.

Crop modes (``PipelineConfig.crop_mode``): ``'box'`` cuts that axis-aligned square out of the (distorted)
image. ``'rectified'`` renders the hand instead through a virtual pinhole camera looking straight at it
(:mod:`wildhands.geometry.perspective_crop`): the crop is that camera's image, the KPE inputs are the
angles of its rays (``kpe_inputs`` of the virtual camera, box = the whole crop), the weak-perspective camera
is lifted with its intrinsics ``K_virtual`` and the whole-crop box, and keypoints, vertices and the wrist
rotation are rotated back into the camera frame by ``R_virtual_from_cam.T``. ``'auto'`` does that for
fisheye (``equidistant``) cameras only. A hand whose box cannot be rectified (centre outside the lens
model, box too wide) falls back to the box crop (logged). ``HandEstimate.crop_box`` is in every mode the
square box of the image the 'box' mode would cut (overlays, tracking and the evaluator's matching use it);
``HandEstimate.rectified_crop`` holds the virtual camera when the crop was rectified. A rectified crop
costs one projection of its S x S rays through the lens model and a ``cv2.remap`` per hand, several times a
box crop's ``warpAffine`` (``crop_ms_per_hand`` in ``bench/results/fisheye_crops.json``).

Upright crops (weights with ``ModelConfig.crop_roll='upright'``, read from the weights, not configured):
the network reads hands turned so that the wrist -> middle-MCP direction points up, as MediaPipe cuts its
crops. Each hand's direction (wrist -> middle MCP) comes from its box where the box carries one
(``Pipeline.box_rolls``: the landmarks of MediaPipe's detector, whose palm detector reads hands pointing any
way, or the tracker's rect from the previous frame), else from a first engine pass on the crops above; the
engine then runs on rectified crops turned by that direction (``perspective_crop.upright_roll``), which
gives the result; lifting is the rectified crops'. Boxes without a direction cost a second engine pass.

Speed: the hands of a frame go through the engine in one call and through the hand model in one batched
call; nothing loops over vertices in Python. ``Pipeline.timings`` holds the milliseconds of each stage of
the last call (``crop``, ``engine``, ``hand_layer``, ``total``). The hand layer runs on one CPU thread: its
tensors are tiny (2 x 1124 vertices), and with torch's thread pool on a busy 2-core machine its barriers
made it 30x slower (72 ms against 2.1 ms, measured).

Mirroring: a left hand is processed as the right hand seen in the horizontally flipped image
(u -> W - 1 - u), whose camera is :meth:`CameraModel.mirrored`; a point (X, Y, Z) of that mirrored world is
(-X, Y, Z) in ours, rotations R map to S R S with S = diag(-1, 1, 1). For a lens with tangential
distortion the flipped image is only approximately an image of the mirrored camera; the KPE angles are
still exact because they come from the original camera (``kpe_inputs(..., mirror=True)``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from wildhands.geometry.camera import CameraModel, weak_perspective_to_translation_np
from wildhands.geometry.crop import CropBox
from wildhands.geometry.perspective_crop import (
    CROP_MODES,
    RectifiedCrop,
    rotation_to_camera,
    upright_roll,
    virtual_to_camera,
)
from wildhands.geometry.rotations import matrix_to_axis_angle, mirror_matrix
from wildhands.handmodel import HAND_MODEL_NAMES, build_hand_model
from wildhands.handmodel.keypoints import MIDDLE_MCP, WRIST
from wildhands.model.checkpoint import load_model
from wildhands.model.config import ModelConfig
from wildhands.model.network import WildHandsNet
from wildhands.model.preprocess import HandCrop, crop_kpe_inputs, cut_crop, normalize_crops, plan_crop
from wildhands.model.weights import resolve_weights
from wildhands.runtime.detection.landmark_net import LANDMARK_ENGINES
from wildhands.runtime.engines import ENGINES, PRECISIONS, build_engine, default_precision
from wildhands.runtime.engines.base import EngineOutput
from wildhands.runtime.hands import CONTINUOUS_TO_CENTRE_PX, HandBox, HandEstimate, landmarks_centre_px
from wildhands.runtime.refine import check_steps
from wildhands.runtime.threads import apply_blas_threads, apply_torch_threads, plan_threads

logger = logging.getLogger(__name__)

_S = np.diag([-1.0, 1.0, 1.0])  # mirror about the camera's y-z plane
_RECTIFY_WARNING_PERIOD_S = 30.0  # seconds between two "cannot rectify this box" warnings
#: how hands are estimated: the landmark-lifting model (the hand-landmark network's 2D + world landmarks
#: lifted with KPE, then refined through the lens) or the image model (ResNet crop + KPE: the paper's)
ESTIMATORS = ("landmarks", "image")
#: what may run the hand-landmark network: "auto" or one of landmark_net.LANDMARK_ENGINES
LANDMARK_ENGINE_CHOICES = ("auto", *LANDMARK_ENGINES)
#: allowed ranges (inclusive) of PipelineConfig.box_scale and .max_hands (the node's parameters use them)
BOX_SCALE_RANGE = (1.0, 4.0)
MAX_HANDS_RANGE = (1, 16)


@dataclass(frozen=True)
class PipelineConfig:
    """How the pipeline runs. Every field is checked; a bad value raises ValueError naming it.

    weights: ``"default"`` (the shipped weights of ``models/``, hash-checked), a manifest name, or a
        checkpoint path (see :mod:`wildhands.model.weights`); ``None`` / ``"untrained"`` = an UNTRAINED
        network (random init, ``seed``) with the architecture of ``model`` — only to exercise the pipeline.
    model: architecture used when ``weights`` is None (a checkpoint carries its own).
    engine: ``'torch'``, ``'onnxruntime'`` (the CPU engine) or ``'tensorrt'`` (NVIDIA GPUs; the engine is
        built once and cached beside the weights, see :mod:`wildhands.runtime.engines.tensorrt_engine`).
    device: torch device for the torch engine (``'cpu'``, ``'cuda'``, ``'cuda:1'``); the GPU of the tensorrt
        engine (``'cuda:N'``; otherwise the current CUDA device).
    precision: ``'fp32'`` or ``'fp16'`` (torch on CUDA, tensorrt); ``None`` = fp16 for tensorrt, fp32 for
        the others.
    onnx_path: ONNX file for the onnxruntime engine; ``None`` = export the network to a temporary cache.
    threads: CPU cores the pipeline's runtimes may use (0 = all this process may run on); how they are
        shared between LiteRT, torch, ONNX Runtime and numpy's BLAS:
        :func:`wildhands.runtime.threads.plan_threads`.
    box_scale: side of the square crop / longest side of the hand box (1.5 in the WildHands code).
    border: ``'zero_pad'`` (crops may extend past the image, padded with black) or ``'clamp'`` (box crops).
    crop_mode: ``'box'`` (axis-aligned square of the distorted image), ``'rectified'`` (virtual pinhole
        camera looking at the hand, every camera) or ``'auto'`` (rectified for fisheye cameras only); see
        the module docstring. The landmark estimator's landmark passes look through the camera with
        ``'rectified'`` only (``LandmarkHandsConfig.crop_mode``).
    max_hands: at most this many hands per image (the highest scores are kept).
    hand_model: ``'open'`` (ours, shipped) or ``'mano'`` (needs ``mano_model_path``).
    mano_model_path: MANO_RIGHT.pkl (or its folder) for ``hand_model='mano'``.
    seed: seed of the untrained network.
    estimator: ``'landmarks'`` (default: the landmark-lifting model, what measures best on real images,
        ``bench/real_hands.py``; :mod:`wildhands.runtime.landmark_hands`) or ``'image'`` (the image model
        with ``weights``: the paper's architecture, for weights trained on real images). With
        ``'landmarks'`` the image model's weights only serve its grasp head and no engine is built.
    refine: ``'landmarks'`` only: fit the hand model to the landmarks through the camera model
        (:mod:`wildhands.runtime.refine`); False gives the lifting head's answer.
    tracked_steps: ``'landmarks'`` with ``refine`` only: a hand whose box the tracker carried over
        (``HandBox.previous``) starts its fit from its previous frame's estimate with this many steps
        instead of from the lifting head's answer (``LandmarkHandsConfig.tracked_steps``); 0 = off.
    lifting_weights: ``'landmarks'`` only: ``"default"`` (the shipped lifting model, hash-checked), a file,
        or None (no head: the fit starts from PnP of the world landmarks).
    landmark_engine: ``'landmarks'`` only: what runs the hand-landmark network
        (:data:`LANDMARK_ENGINE_CHOICES`): ``'auto'`` = LiteRT on the CPU (``device='cpu'``), TensorRT on a
        CUDA ``device`` where the ``tensorrt`` package is installed, else torch on that device; or one of
        ``'litert'``, ``'torch'``, ``'onnxruntime'``, ``'tensorrt'``
        (:mod:`wildhands.runtime.detection.landmark_net`).
    """

    weights: str | Path | None = None
    model: ModelConfig = field(default_factory=ModelConfig)
    engine: str = "torch"
    device: str = "cpu"
    precision: str | None = None
    onnx_path: Path | None = None
    threads: int = 0
    box_scale: float = 1.5
    border: str = "zero_pad"
    crop_mode: str = "auto"
    max_hands: int = 2
    hand_model: str = "open"
    mano_model_path: Path | None = None
    seed: int = 0
    estimator: str = "landmarks"
    refine: bool = True
    tracked_steps: int = 0
    lifting_weights: str | Path | None = "default"
    landmark_engine: str = "auto"

    def __post_init__(self) -> None:
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"estimator={self.estimator!r} not in {set(ESTIMATORS)}")
        if self.landmark_engine not in LANDMARK_ENGINE_CHOICES:
            raise ValueError(
                f"landmark_engine={self.landmark_engine!r} not in {set(LANDMARK_ENGINE_CHOICES)}"
            )
        if not isinstance(self.refine, bool):
            raise ValueError(f"refine={self.refine!r} must be a bool")
        check_steps("tracked_steps", self.tracked_steps)
        if self.engine not in ENGINES:
            raise ValueError(f"engine={self.engine!r} not in {set(ENGINES)}")
        if self.precision is not None and self.precision not in PRECISIONS:
            raise ValueError(f"precision={self.precision!r} not in {set(PRECISIONS)} (or None)")
        if self.resolved_precision == "fp16" and self.engine == "onnxruntime":
            raise ValueError("precision='fp16' needs engine='torch' (on CUDA) or 'tensorrt'")
        if (
            self.resolved_precision == "fp16"
            and self.engine == "torch"
            and not self.device.startswith("cuda")
        ):
            raise ValueError(f"precision='fp16' with engine='torch' needs device='cuda', got {self.device!r}")
        lo, hi = BOX_SCALE_RANGE
        if not (isinstance(self.box_scale, (int, float)) and lo <= self.box_scale <= hi):
            raise ValueError(f"box_scale={self.box_scale!r} must be in [{lo:g}, {hi:g}]")
        if self.border not in ("zero_pad", "clamp"):
            raise ValueError(f"border={self.border!r} not in {{'zero_pad', 'clamp'}}")
        if self.crop_mode not in CROP_MODES:
            raise ValueError(f"crop_mode={self.crop_mode!r} not in {set(CROP_MODES)}")
        lo, hi = MAX_HANDS_RANGE
        if not (isinstance(self.max_hands, int) and lo <= self.max_hands <= hi):
            raise ValueError(f"max_hands={self.max_hands!r} must be an int in [{lo}, {hi}]")
        if not (isinstance(self.threads, int) and self.threads >= 0):
            raise ValueError(f"threads={self.threads!r} must be an int >= 0")
        if self.hand_model not in HAND_MODEL_NAMES:
            raise ValueError(f"hand_model={self.hand_model!r} not in {set(HAND_MODEL_NAMES)}")
        if self.hand_model == "mano" and self.mano_model_path is None:
            raise ValueError("hand_model='mano' needs mano_model_path (the MANO_RIGHT.pkl you downloaded)")

    @property
    def resolved_precision(self) -> str:
        """``precision``, or the engine's default when it is None."""
        return default_precision(self.engine) if self.precision is None else self.precision


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def check_image(image_rgb: np.ndarray) -> np.ndarray:
    """Validate an RGB image (H, W, 3) uint8 (a (H, W) grey image is expanded); ValueError otherwise."""
    if not isinstance(image_rgb, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(image_rgb).__name__}")
    if image_rgb.ndim == 2:
        image_rgb = np.repeat(image_rgb[:, :, None], 3, axis=2)
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3) RGB, got shape {image_rgb.shape}")
    if image_rgb.shape[0] == 0 or image_rgb.shape[1] == 0:
        raise ValueError(f"image is empty: shape {image_rgb.shape}")
    if image_rgb.dtype != np.uint8:
        raise ValueError(f"image dtype must be uint8, got {image_rgb.dtype}")
    return image_rgb


class Pipeline:
    """image + camera + hand boxes -> list of :class:`HandEstimate` (see the module docstring)."""

    def __init__(self, config: PipelineConfig | None = None) -> None:
        self.config = config or PipelineConfig()
        weights_path = resolve_weights(self.config.weights)  # WeightsError (a ValueError) naming the problem
        self.weights_path = weights_path
        if weights_path is not None:
            self.network = load_model(weights_path)
            self.weights_description = (
                str(weights_path)
                if str(weights_path) == str(self.config.weights)
                else f"{self.config.weights} ({weights_path})"
            )
            self.trained = True
        else:
            torch.manual_seed(self.config.seed)
            self.network = WildHandsNet(self.config.model)
            self.weights_description = f"UNTRAINED (random initialisation, seed {self.config.seed})"
            self.trained = False
            logger.warning("no weights given: the network is untrained and its output is meaningless")
        self.network.eval()
        self.model_config: ModelConfig = self.network.config
        self.hand_model = build_hand_model(
            self.config.hand_model, side="right", model_path=self.config.mano_model_path
        )
        self.left_faces = self._left_faces()
        self.engine = None  # the image model's engine (estimator 'image')
        self.landmark_hands = None  # the landmark-lifting path (estimator 'landmarks')
        #: threads per runtime, set here once (never per frame)
        self.threads = plan_threads(self.config.threads, self.config.estimator, self.config.engine)
        apply_blas_threads(self.threads.blas)  # first: an OpenMP OpenBLAS would also set OpenMP's count
        apply_torch_threads(self.threads.torch)
        if self.config.tracked_steps and (self.config.estimator == "image" or not self.config.refine):
            unused = "estimator=image" if self.config.estimator == "image" else "refine off"
            logger.warning("tracked_steps=%d does nothing with %s", self.config.tracked_steps, unused)
        if self.config.estimator == "image":
            self.engine = build_engine(
                self.config.engine,
                self.network,
                device=self.config.device,
                onnx_path=self.config.onnx_path,
                threads=self.threads.torch if self.config.engine == "torch" else self.threads.onnxruntime,
                precision=self.config.resolved_precision,
                weights_path=weights_path,
            )
        else:
            self.landmark_hands = self._build_landmark_hands()
            refine = "on" if self.config.refine else "off"
            if self.config.refine and self.config.tracked_steps:
                refine += f", tracked hands from their previous fit in {self.config.tracked_steps} steps"
            self.weights_description = (
                f"landmarks: lifting {self._lifting_description}, refine {refine}"
                f"; grasp head of {self.weights_description}"
            )
            if not self.trained:
                logger.warning(
                    "no image-model weights: the grasp head is untrained (grasp labels meaningless)"
                )
            self.trained = True  # the hands come from trained networks (landmark network, lifting head)
        #: milliseconds of each stage of the last call: crop, engine, hand_layer, total ({} before any)
        self.timings: dict[str, float] = {}
        #: hands of the last call dropped for non-finite or invalid values (not: boxes with no hand in them)
        self.dropped_invalid = 0
        #: the image model's engine calls of the last call, each its batch size (hands): [first pass, if
        #: any boxes lacked a direction (upright weights), the answer]; [] for the landmark estimator
        self.engine_batches: list[int] = []
        self._rectify_warned = -np.inf  # time.monotonic() of the last "cannot rectify" warning

    def view_camera(self, camera: CameraModel) -> CameraModel | None:
        """``camera`` where the detector's landmark passes should see hands through it (the landmark
        estimator and ``crop_mode``: ``LandmarkHandsConfig.view_camera``), else None: what the node hands
        to ``HandTracker.boxes_for_frame``, so that detected and tracked hands carry those landmarks."""
        return None if self.landmark_hands is None else self.landmark_hands.config.view_camera(camera)

    def _build_landmark_hands(self):
        from wildhands.model.lifting import load_lifting
        from wildhands.model.weights import resolve_lifting_weights
        from wildhands.runtime.detection.mediapipe_palm import MediaPipeHandDetector
        from wildhands.runtime.landmark_hands import LandmarkHands, LandmarkHandsConfig

        path = resolve_lifting_weights(self.config.lifting_weights)  # WeightsError naming the problem
        self._lifting_description = "none (PnP start)" if path is None else str(path)
        detector = MediaPipeHandDetector(
            threads=self.threads.litert, landmark_engine=self.landmark_engine, device=self.config.device
        )
        return LandmarkHands(
            detector,
            self.hand_model,
            grasp_head=self.network.grasp_head if self.trained else None,
            config=LandmarkHandsConfig(
                refine=self.config.refine,
                box_scale=self.config.box_scale,
                crop_mode=self.config.crop_mode,
                tracked_steps=self.config.tracked_steps,
            ),
            lifter=None if path is None else load_lifting(path),
        )

    @property
    def landmark_engine(self) -> str:
        """The landmark engine ``config.landmark_engine`` resolves to on this machine."""
        choice = self.config.landmark_engine
        if choice != "auto":
            return choice
        if not str(self.config.device).startswith("cuda"):
            return "litert"
        import importlib.util

        return "tensorrt" if importlib.util.find_spec("tensorrt") is not None else "torch"

    @property
    def engine_name(self) -> str:
        """What runs the hands: the image model's engine, or ``landmarks`` (LiteRT landmark network +
        torch lifting head and fit)."""
        return self.engine.name if self.engine is not None else "landmarks"

    def _left_faces(self) -> np.ndarray:
        faces = (
            self.hand_model.faces_tensor.cpu().numpy() if hasattr(self.hand_model, "faces_tensor") else None
        )
        if faces is None:
            faces = np.asarray(self.hand_model.faces)
        return faces[:, ::-1].copy()  # mirroring flips the winding

    @property
    def kpe_variant(self) -> str:
        return self.model_config.kpe.variant.value

    def prepare(
        self,
        image_rgb: np.ndarray,
        camera: CameraModel,
        boxes: list[HandBox],
        rolls: list[float] | None = None,
    ):
        """Crops (B, 3, S, S) float32 normalised, KPE inputs (B, P, 2), crop boxes, network-side boxes, and
        the mirrored camera (all through :mod:`wildhands.model.preprocess`, as the training items).
        ``rolls``: per box, None or the roll of a turned rectified crop (upright crops' second pass).

        ``crop_boxes[i]``: the square box of the image (every mode). ``net_boxes[i]``: what the network's
        crop camera refers to: for a box crop the :class:`CropBox` in the (for left hands mirrored) image,
        for a rectified crop its :class:`RectifiedCrop` (the virtual camera; the box is the whole crop).
        """
        size = self.model_config.image_size
        crops = np.empty((len(boxes), size, size, 3), np.uint8)
        kpe = np.empty((len(boxes), self.model_config.kpe.num_points, 2), np.float32)
        crop_boxes, net_boxes = [], []
        for i, hand in enumerate(boxes):
            crop = self.plan_crop(camera, hand, None if rolls is None else rolls[i])
            crops[i] = cut_crop(image_rgb, crop)
            kpe[i] = crop_kpe_inputs(crop, self.kpe_variant, grid=self.model_config.kpe.dense_grid)
            crop_boxes.append(crop.box)
            net_boxes.append(crop.rectified if crop.rectified is not None else crop.net_box)
        return normalize_crops(crops), kpe, crop_boxes, net_boxes, camera.mirrored()

    def plan_crop(self, camera: CameraModel, hand: HandBox, roll_rad: float | None = None) -> HandCrop:
        """Where the crop of ``hand`` is (``box_scale``, ``border``, ``crop_mode`` of the config; left hands
        mirrored; a rectified crop turned by ``roll_rad`` when given); a box that cannot be rectified gets
        the box crop (warned at most every 30 s)."""
        return plan_crop(
            camera,
            hand.xyxy_px,
            self.model_config.image_size,
            self.config.box_scale,
            mirror=hand.side == "left",
            crop_mode=self.config.crop_mode,
            border=self.config.border,
            on_rectify_error=self._rectify_failed,
            roll_rad=roll_rad,
        )

    def box_rolls(self, camera: CameraModel, boxes: list[HandBox]) -> list[float | None]:
        """Per box, the roll that turns its rectified crop upright from the direction the box carries
        (wrist -> middle MCP): the detector's landmarks (``HandBox.landmarks``, MediaPipe's detector: its
        palm detector reads which way a hand points at any turn), else the tracker's rect
        (``HandBox.landmark_rect``: its rotation, from the hand's previous frame); None where the box
        carries neither (another detector, a given box) or cannot be rectified: a first pass reads those."""
        rolls: list[float | None] = []
        for hand in boxes:
            points = _carried_direction_px(hand)
            unturned = None if points is None else self.plan_crop(camera, hand, 0.0).rectified
            if unturned is None:
                rolls.append(None)
                continue
            rays = camera.pixels_to_rays(points)
            rolls.append(upright_roll(unturned, rays[0], rays[1]) if np.isfinite(rays).all() else None)
        return rolls

    def upright_rolls(
        self,
        camera: CameraModel,
        boxes: list[HandBox],
        crop_boxes: list[CropBox],
        net_boxes: list[CropBox | RectifiedCrop],
        first: list[HandEstimate],
    ) -> list[float]:
        """Per box, the roll that turns its rectified crop upright (``perspective_crop.upright_roll``) from
        the first pass's estimate of that hand (``first``, matched by its crop box: ``crop_boxes[i]`` is
        box i's; ``net_boxes[i]`` its first-pass crop, reused when it was already an unturned rectified
        one), 0 where the first pass dropped it."""
        by_box = {id(h.crop_box): h for h in first}
        rolls = []
        for hand, box, nb in zip(boxes, crop_boxes, net_boxes):
            est = by_box.get(id(box))
            unturned = nb if isinstance(nb, RectifiedCrop) else self.plan_crop(camera, hand, 0.0).rectified
            if est is None or unturned is None:
                rolls.append(0.0)
                continue
            kp = est.keypoints_cam_m
            rolls.append(upright_roll(unturned, kp[WRIST], kp[MIDDLE_MCP]))
        return rolls

    def _rectify_failed(self, exc: ValueError) -> None:
        now = time.monotonic()
        if now - self._rectify_warned >= _RECTIFY_WARNING_PERIOD_S:
            logger.warning("rectified crop impossible, box crop used instead: %s", exc)
            self._rectify_warned = now

    def __call__(
        self, image_rgb: np.ndarray, camera: CameraModel, boxes: list[HandBox]
    ) -> list[HandEstimate]:
        """Estimate every hand in ``boxes``; an empty list when there are none."""
        image_rgb = check_image(image_rgb)
        if (image_rgb.shape[1], image_rgb.shape[0]) != (camera.width, camera.height):
            raise ValueError(
                f"image is {image_rgb.shape[1]}x{image_rgb.shape[0]} but the camera is "
                f"{camera.width}x{camera.height}"
            )
        t0 = time.perf_counter()
        self.dropped_invalid = 0
        self.engine_batches = []
        boxes = sorted(boxes, key=lambda b: -b.score)[: self.config.max_hands]
        if not boxes:
            self.timings = {"crop": 0.0, "engine": 0.0, "hand_layer": 0.0, "total": 0.0}
            return []
        if self.landmark_hands is not None:
            hands = self._finite(self.landmark_hands(image_rgb, camera, boxes), 0)
            self.timings = {**self.landmark_hands.timings, "total": 1e3 * (time.perf_counter() - t0)}
            return hands
        crop_s = engine_s = hand_layer_s = 0.0
        rolls = None
        if self.model_config.crop_roll == "upright":  # each crop turned upright: the box's own direction,
            rolls = self.box_rolls(camera, boxes)  # else a first pass on the unturned crop
            unknown = [i for i, roll in enumerate(rolls) if roll is None]
            if unknown:
                first_boxes = [boxes[i] for i in unknown]
                ts = time.perf_counter()
                images, kpe, crop_boxes, net_boxes, mirrored_camera = self.prepare(
                    image_rgb, camera, first_boxes
                )
                crop_s += time.perf_counter() - ts
                ts = time.perf_counter()
                out = self.engine.infer(images, kpe)
                engine_s += time.perf_counter() - ts
                self.engine_batches.append(len(first_boxes))
                ts = time.perf_counter()
                first = self.lift(out, camera, mirrored_camera, first_boxes, crop_boxes, net_boxes)
                hand_layer_s += time.perf_counter() - ts
                ts = time.perf_counter()
                found = self.upright_rolls(camera, first_boxes, crop_boxes, net_boxes, first)
                for i, roll in zip(unknown, found, strict=True):
                    rolls[i] = roll
                crop_s += time.perf_counter() - ts
        ts = time.perf_counter()
        images, kpe, crop_boxes, net_boxes, mirrored_camera = self.prepare(image_rgb, camera, boxes, rolls)
        crop_s += time.perf_counter() - ts
        ts = time.perf_counter()
        out = self.engine.infer(images, kpe)  # every hand of the frame in one call
        engine_s += time.perf_counter() - ts
        self.engine_batches.append(len(boxes))
        ts = time.perf_counter()
        hands = self.lift(out, camera, mirrored_camera, boxes, crop_boxes, net_boxes)
        # every box gives a hand unless lift() dropped it for non-finite or invalid engine output
        hands = self._finite(hands, len(boxes) - len(hands))
        t3 = time.perf_counter()
        self.timings = {
            "crop": 1e3 * crop_s,
            "engine": 1e3 * engine_s,
            "hand_layer": 1e3 * (hand_layer_s + t3 - ts),
            "total": 1e3 * (t3 - t0),
        }
        return hands

    def _finite(self, hands: list[HandEstimate], dropped: int) -> list[HandEstimate]:
        """The one place where invalid hands are dropped: ``hands`` without non-finite ones;
        ``dropped_invalid`` = those + ``dropped`` (already dropped upstream for invalid values)."""
        finite = [h for h in hands if h.is_finite()]
        self.dropped_invalid = dropped + len(hands) - len(finite)
        if len(finite) < len(hands):
            logger.warning("%d hand(s) with non-finite values dropped", len(hands) - len(finite))
        return finite

    def lift(
        self,
        out: EngineOutput,
        camera: CameraModel,
        mirrored_camera: CameraModel,
        boxes: list[HandBox],
        crop_boxes: list[CropBox],
        net_boxes: list[CropBox | RectifiedCrop],
    ) -> list[HandEstimate]:
        """Network outputs -> metric hands: hand model, crop camera -> translation, mirroring back, and for
        rectified crops the rotation from the virtual camera's frame back into the camera's."""
        n = len(boxes)
        finite = np.ones(n, dtype=bool)
        for name in ("global_orient", "hand_pose", "betas", "cam_wp"):
            finite &= np.isfinite(getattr(out, name).reshape(n, -1)).all(axis=1)
        if not np.all(finite):
            logger.warning("engine returned non-finite values for %d hand(s); dropped", int((~finite).sum()))
        # hands with non-finite outputs are dropped below; give the hand model valid stand-ins for them
        eye = np.eye(3, dtype=np.float32)
        global_orient = np.where(finite[:, None, None], out.global_orient, eye)
        hand_pose = np.where(finite[:, None, None, None], out.hand_pose, eye)
        betas = np.where(finite[:, None], out.betas, 0.0).astype(np.float32)
        with torch.inference_mode():
            hm = self.hand_model(
                betas=torch.from_numpy(betas),
                global_orient=torch.from_numpy(np.ascontiguousarray(global_orient)),
                hand_pose=torch.from_numpy(np.ascontiguousarray(hand_pose)),
            )
            # (B, 15, 3) parent-relative axis-angles of every hand in one call
            pose_aa_all = matrix_to_axis_angle(torch.from_numpy(hand_pose.astype(np.float64))).numpy()
        keypoints = hm.keypoints.numpy().astype(np.float64)  # (B, 21, 3) model frame, right hand
        vertices = hm.vertices.numpy().astype(np.float64)
        root = keypoints[:, :1, :]
        right_faces = hm.faces.cpu().numpy() if isinstance(hm.faces, torch.Tensor) else np.asarray(hm.faces)
        hands: list[HandEstimate] = []
        for i, hand in enumerate(boxes):
            if not finite[i] or out.cam_wp[i, 0] <= 0:
                if finite[i]:
                    logger.warning("hand %d: weak-perspective scale %.3g <= 0; dropped", i, out.cam_wp[i, 0])
                continue
            left = hand.side == "left"
            nb = net_boxes[i]
            rc = nb if isinstance(nb, RectifiedCrop) else None
            if rc is not None:  # the virtual camera, mirrored or not (see perspective_crop)
                cb, f, c = rc.crop_box, rc.f, rc.c
                transl = weak_perspective_to_translation_np(out.cam_wp[i], cb.center, cb.size, f, f, c, c)
            else:
                cam = mirrored_camera if left else camera
                transl = weak_perspective_to_translation_np(
                    out.cam_wp[i], nb.center, nb.size, cam.fx, cam.fy, cam.cx, cam.cy
                )
            kp = keypoints[i] - root[i] + transl
            verts = vertices[i] - root[i] + transl
            R = out.global_orient[i].astype(np.float64)
            pose_aa = pose_aa_all[i]
            faces = right_faces
            if left:
                kp, verts = kp @ _S, verts @ _S
                R = mirror_matrix(R)
                pose_aa = pose_aa * np.array([1.0, -1.0, -1.0])
                faces = self.left_faces
            if rc is not None:  # virtual frame (already unmirrored) -> camera frame
                kp, verts = virtual_to_camera(rc, kp), virtual_to_camera(rc, verts)
                R = rotation_to_camera(rc, R)
            hands.append(
                HandEstimate(
                    side=hand.side,
                    side_confidence=float(hand.side_score),
                    detection_confidence=float(hand.score),
                    confidence=float(hand.score * hand.side_score),
                    crop_box=crop_boxes[i],
                    keypoints_cam_m=kp,
                    keypoints_px=camera.project(kp),
                    vertices_cam_m=verts,
                    faces=faces,
                    wrist_rotation=R,
                    joint_rotations_aa=pose_aa,
                    betas=out.betas[i].astype(np.float64),
                    grasp_probabilities=_softmax(out.grasp_logits[i].astype(np.float64)),
                    intrinsics_estimated=bool(camera.estimated),
                    hand_model=str(getattr(self.hand_model, "name", self.config.hand_model)),
                    rectified_crop=rc,
                    landmarks_px=landmarks_centre_px(hand.landmarks),
                )
            )
        return hands


def _carried_direction_px(hand: HandBox) -> np.ndarray | None:
    """(2, 2) image points (``CameraModel`` pixel centres) from which a hand points along its wrist ->
    middle-MCP direction, as its box carries them: the detector's wrist and middle MCP, else the tracker's
    rect centre and a point a quarter of its side away along its rotation (``crop.up_angle``); None."""
    landmarks = landmarks_centre_px(hand.landmarks)
    if landmarks is not None:
        points = landmarks[[WRIST, MIDDLE_MCP]]
    elif hand.landmark_rect is not None:
        cx, cy, side, rotation = (float(v) for v in hand.landmark_rect)
        step = 0.25 * side * np.array([np.sin(rotation), -np.cos(rotation)])
        points = np.array([[cx, cy], [cx + step[0], cy + step[1]]]) - CONTINUOUS_TO_CENTRE_PX
    else:
        return None
    return points if np.isfinite(points).all() and np.ptp(points, axis=0).any() else None
