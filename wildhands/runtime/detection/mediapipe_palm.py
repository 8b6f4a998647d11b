"""MediaPipe Hands, offline, without the ``mediapipe`` package: palm detector + hand-landmark model in LiteRT.

The two-stage graph of MediaPipe Hands, re-implemented in numpy/OpenCV around the two .tflite files:

1. **Palm detection** (``palm_detection_full.tflite``): the image is letterboxed (aspect kept, zero padding)
   to 192x192 RGB in [0, 1]; the SSD head gives 2016 anchors x (box + 7 palm keypoints) and a logit each.
   Anchors: strides [8, 16, 16, 16] on a 192x192 input, 2 anchors per layer and cell, fixed size 1
   (24x24x2 + 12x12x6 = 2016). Decoding: offsets / 192 + anchor centre; scores = sigmoid(clip(logit, ±100)).
   Weighted NMS (IoU 0.3) merges the overlapping anchors of one palm into a score-weighted average.
2. **Palm -> hand rect**: rotated so that the wrist (palm keypoint 0) -> middle-finger MCP (keypoint 2)
   points up; centre shifted by -0.5 box heights along that direction; square of 2.6x the long side.
3. **Hand landmarks** (``hand_landmark_full.tflite``): the rotated rect is cropped to 224x224 RGB in
   [0, 1]; the model gives 21 landmarks (crop pixels, projected back through the rect), a hand-presence
   score (false palms are dropped below ``presence_threshold``), a handedness score and 21 world
   landmarks (m, origin near the hand's centre).

Lenses: given the image's camera (``camera=``, a :class:`CameraModel`), each landmark pass sees its rect
through a virtual pinhole camera looking straight at it instead of cutting it out of the image: a hand
in a wide lens's periphery is then seen as an ordinary camera would see it, not stretched. A rect drawn
from landmarks (a box's second pass, a tracked hand: ``HandBox.landmark_rect_from``) is drawn in their
view (:func:`view_from_landmarks`); another (a palm's, a box's first pass) is mapped into one
(``perspective_crop.rectify_rect``). Landmarks come back in the image's pixels, world landmarks in the
axes of that camera without its roll: a view of the hand, as ``model.lifting`` takes them (its own view
looks at the landmarks' mean ray, a few degrees from the rect's centre). The pipeline passes the camera
with ``PipelineConfig.crop_mode='rectified'`` (``LandmarkHandsConfig.view_camera``); the palm detector
always reads the whole image. Measured: docs/landmark-estimator.md, "Landmark passes through the lens".

Handedness: MediaPipe's label assumes a *mirrored* (selfie) image. Camera images here are not mirrored,
so the label is swapped: the model's "Left" is the person's right hand. Tested on real hands of known
side (InterHand2.6M images) and on their horizontal flips. ``mirrored_input=True`` keeps MediaPipe's label.

The output box of each hand is the axis-aligned box of its 21 landmarks, grown by ``box_margin`` of its
size on every side (the landmarks are joints; the skin reaches a little beyond them).

Differences from MediaPipe, measured on our test images: the letterbox downscales with area averaging
(MediaPipe: bilinear, which aliases; with bilinear we reproduce MediaPipe's miss of the InterHand2.6M left
hand), and an optional mirrored palm pass (``flip_palms``). Where both find a hand, our 21 landmarks lie
within ~2 px (mean) of the ``mediapipe==0.10.21`` package's on 95-134 px hands
(test/data/mediapipe/reference.json).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import threading
from dataclasses import dataclass

import cv2
import numpy as np

from wildhands.geometry.camera import CameraModel
from wildhands.geometry.crop import up_angle
from wildhands.geometry.perspective_crop import (
    RectifiedCrop,
    look_at_rotation,
    rectified_to_image,
    rectify_rect,
    roll_matrix,
    tangent_view,
    upright_view,
    warp_rectified,
)
from wildhands.runtime.detection.landmark_net import (
    DEFAULT_CPU_ENGINE,
    LANDMARK_INPUT_SIZE,
    build_landmark_engine,
)
from wildhands.runtime.detection.litert import load_interpreter
from wildhands.runtime.detection.models import PALM_MODEL, model_paths
from wildhands.runtime.hands import HandBox

logger = logging.getLogger(__name__)

PALM_INPUT_SIZE = 192
NUM_LANDMARKS = 21
NUM_PALM_KEYPOINTS = 7
PALM_WRIST_KEYPOINT = 0  # centre of the wrist
PALM_MIDDLE_MCP_KEYPOINT = 2  # middle-finger MCP joint
_ANCHOR_STRIDES = (8, 16, 16, 16)
_ANCHORS_PER_LAYER = 2  # aspect ratio 1.0 + the interpolated scale
_SCORE_CLIP = 100.0
# Palm -> hand rect (MediaPipe's palm_detection_detection_to_roi).
_RECT_SCALE = 2.6
_RECT_SHIFT_Y = -0.5
# Landmarks -> hand rect (MediaPipe's hand_landmark_landmarks_to_roi): the landmarks that move least
# (wrist, thumb CMC/MCP/IP, each finger's MCP and PIP), scale 2.0, shift -0.1 of the height.
TRACKING_LANDMARKS: tuple[int, ...] = (0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18)
_LANDMARK_RECT_SCALE = 2.0
_LANDMARK_RECT_SHIFT_Y = -0.1
# A given hand box -> the first landmark pass's upright square: this times the box's longest side (the
# image model's default box_scale).
BOX_RECT_SCALE = 1.5


@dataclass(frozen=True)
class HandDetection:
    """One hand from :meth:`MediaPipeHandDetector.detect_with_landmarks`.

    box: the hand box (xyxy px, side, scores) as :meth:`~MediaPipeHandDetector.detect` returns it.
    landmarks_px: (21, 3) float64: x, y in source-image pixels (continuous coordinates: pixel (0, 0)
        covers [0, 1)^2) and a relative depth z in pixels (smaller = nearer the camera, origin at the
        wrist, MediaPipe's convention). MediaPipe landmark order, which is ours (``handmodel.keypoints``).
    landmarks_world_m: (21, 3) float64, metres, MediaPipe's "world" landmarks: origin near the hand's
        centre, axes roughly the camera's (x right, y down, z away), *not* a camera-frame position. The
        network answers in its rotated crop's axes; they are turned back by the crop's rotation about z, as
        MediaPipe's graph does (its WorldLandmarkProjectionCalculator), so a hand turned in the image
        reads turned (:func:`world_to_image_axes`). Seen through the camera (``camera=``), they are in the
        axes of the virtual camera that looked at the hand, without its roll (module docstring).
    presence: hand-presence score of the landmark model in [0, 1].
    palm_score: palm-detector score in [0, 1].
    palm_box_xyxy_px: the palm box of the first stage, source-image pixels.
    rect_center_px, rect_size_px, rect_rotation_rad: the rotated square crop the landmarks came from
        (rotation: angle, image frame, from the crop's "up" to the wrist -> middle-MCP direction); seen
        through the camera, the image rect that the virtual camera looked at (it saw that rect's view).
    """

    box: HandBox
    landmarks_px: np.ndarray
    landmarks_world_m: np.ndarray
    presence: float
    palm_score: float
    palm_box_xyxy_px: tuple[float, float, float, float]
    rect_center_px: tuple[float, float]
    rect_size_px: float
    rect_rotation_rad: float


def ssd_anchors() -> np.ndarray:
    """(2016, 2) anchor centres (x, y) normalised to [0, 1], in the order of the palm model's outputs."""
    centres = []
    i = 0
    while i < len(_ANCHOR_STRIDES):
        stride = _ANCHOR_STRIDES[i]
        # consecutive layers of one stride share a feature map; their anchors interleave per cell
        j = i
        while j < len(_ANCHOR_STRIDES) and _ANCHOR_STRIDES[j] == stride:
            j += 1
        per_cell = _ANCHORS_PER_LAYER * (j - i)
        cells = math.ceil(PALM_INPUT_SIZE / stride)
        ys, xs = np.meshgrid(
            (np.arange(cells) + 0.5) / cells, (np.arange(cells) + 0.5) / cells, indexing="ij"
        )
        grid = np.stack([xs.ravel(), ys.ravel()], axis=1)  # (cells*cells, 2), row-major
        centres.append(np.repeat(grid, per_cell, axis=0))
        i = j
    return np.concatenate(centres, axis=0)


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one xyxy box (4,) with many (N, 4)."""
    ix0 = np.maximum(box[0], boxes[:, 0])
    iy0 = np.maximum(box[1], boxes[:, 1])
    ix1 = np.minimum(box[2], boxes[:, 2])
    iy1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def weighted_nms(
    boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou_threshold: float
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """MediaPipe's WEIGHTED non-max suppression.

    boxes (N, 4) xyxy, keypoints (N, K, 2), scores (N,). Highest score first: every remaining box with
    IoU > ``iou_threshold`` to it joins its cluster; the cluster's boxes and keypoints are averaged with
    the scores as weights, the score is the top one's. Returns [(box (4,), keypoints (K, 2), score)].
    """
    order = np.argsort(-scores, kind="stable")
    out = []
    while order.size:
        top = order[0]
        overlap = _iou(boxes[top], boxes[order]) > iou_threshold
        overlap[0] = True
        members = order[overlap]
        w = scores[members][:, None]
        if w.sum() <= 0:  # all-zero scores: no weighting possible, keep the top one as is
            w = np.zeros_like(w)
            w[0] = 1.0
        box = (boxes[members] * w).sum(0) / w.sum()
        kps = (keypoints[members] * w[:, :, None]).sum(0) / w.sum()
        out.append((box, kps, float(scores[top])))
        order = order[~overlap]
    return out


def _rotation(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]])


class MediaPipeHandDetector:
    """Hands with side from MediaPipe's palm detector + hand-landmark model (LiteRT, CPU).

    model_dir: folder holding ``palm_detection_full.tflite`` and ``hand_landmark_full.tflite``
        (default: the wildhands cache, filled by ``scripts/fetch_detector_models.py``).
    score_threshold: minimum palm-detector score in [0, 1] (MediaPipe: 0.5), and minimum score of a hand
        it returns (``HandBox.score`` = palm score x hand presence; the node's ``detector_score_threshold``).
    nms_iou: IoU above which palm detections are merged (MediaPipe: 0.3).
    max_hands: at most this many hands (MediaPipe's ``num_hands``). Palms go to the landmark model best
        first, at most 2 x max_hands of them, so that a false palm or a second palm of one hand does not
        hide another hand.
    presence_threshold: minimum hand-presence score of the landmark model; rejects false palms
        (MediaPipe: 0.5).
    box_margin: the landmark box grows by this fraction of its width/height on each side.
    mirrored_input: True when images are mirrored (selfie view), as MediaPipe's handedness assumes.
    flip_palms: also run the palm detector on the mirrored image and merge both (one more palm pass,
        ~6.5 ms on 2 threads here). The palm model misses some hands that it finds mirrored (a real left
        hand seen from the back in our InterHand2.6M test image: score 0.07, mirrored 0.95). MediaPipe
        itself runs one pass.
    threads: LiteRT CPU threads (and ONNX Runtime's, for that landmark engine).
    landmark_engine: what runs the hand-landmark network (``landmark_net.LANDMARK_ENGINES``): ``litert``
        (the CPU default: fastest here, ``bench/results/landmark_net.json``), or the same network built
        from the cached ``.tflite`` in ``torch``, ``onnxruntime`` or ``tensorrt`` (GPUs); the palm
        detector always runs in LiteRT.
    device: torch device of the ``torch`` landmark engine, CUDA device of ``tensorrt``.

    Thread-safe (calls are serialised); use one detector per worker thread for parallel detection.
    """

    name = "mediapipe"

    def __init__(
        self,
        model_dir: str | os.PathLike | None = None,
        score_threshold: float = 0.5,
        nms_iou: float = 0.3,
        max_hands: int = 2,
        presence_threshold: float = 0.5,
        box_margin: float = 0.08,
        mirrored_input: bool = False,
        flip_palms: bool = True,
        threads: int = 2,
        landmark_engine: str = DEFAULT_CPU_ENGINE,
        device: str = "cpu",
    ) -> None:
        for key, value in (
            ("score_threshold", score_threshold),
            ("nms_iou", nms_iou),
            ("presence_threshold", presence_threshold),
        ):
            if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
                raise ValueError(f"{key}={value!r} must be in [0, 1]")
        if not (isinstance(max_hands, int) and not isinstance(max_hands, bool) and max_hands >= 1):
            raise ValueError(f"max_hands={max_hands!r} must be an integer >= 1")
        if not (isinstance(box_margin, (int, float)) and 0.0 <= box_margin <= 1.0):
            raise ValueError(f"box_margin={box_margin!r} must be in [0, 1]")
        if not (isinstance(threads, int) and threads >= 1):
            raise ValueError(f"threads={threads!r} must be an integer >= 1")
        self.score_threshold = float(score_threshold)
        self.nms_iou = float(nms_iou)
        self.max_hands = max_hands
        self.presence_threshold = float(presence_threshold)
        self.box_margin = float(box_margin)
        self.mirrored_input = bool(mirrored_input)
        self.flip_palms = bool(flip_palms)
        paths = model_paths(model_dir)  # DetectorModelsMissing names the fetch command
        self._palm = load_interpreter(paths[PALM_MODEL], threads)
        self._palm_in = self._palm.get_input_details()[0]["index"]
        outs = {d["name"]: d["index"] for d in self._palm.get_output_details()}
        self._palm_regressors, self._palm_logits = outs["Identity"], outs["Identity_1"]
        # the hand-landmark network: LiteRT, or built from the same file in torch / ONNX Runtime / TensorRT
        # (landmark_net); 21 x (x, y, z) crop px, presence, handedness (P("Left") in the selfie view),
        # 21 x (x, y, z) world landmarks (m)
        self._landmark = build_landmark_engine(landmark_engine, model_dir, threads, device)
        self._anchors = ssd_anchors()
        self._lock = threading.RLock()

    # -- public API -----------------------------------------------------------------------------------

    def detect(self, image_rgb: np.ndarray, camera: CameraModel | None = None) -> list[HandBox]:
        """Hand boxes with side in ``image_rgb`` ((H, W, 3) uint8 RGB), highest score first; [] if none.
        Each box carries its landmark detection (``HandBox.landmarks``): the landmark estimator of the
        pipeline uses it instead of a second landmark pass. ``camera``: the image's, to see each hand
        through a virtual camera looking at it (module docstring)."""
        hands = self.detect_with_landmarks(image_rgb, camera)
        return [dataclasses.replace(d.box, landmarks=d) for d in hands]

    def detect_with_landmarks(
        self, image_rgb: np.ndarray, camera: CameraModel | None = None
    ) -> list[HandDetection]:
        """As :meth:`detect`, with each hand's 21 landmarks and the intermediate palm/rect.

        The mirrored palm pass (``flip_palms``) runs only when the first pass found fewer than
        ``max_hands`` hands, and only its palms that the first pass did not already have go on to the
        landmark model."""
        image = _check_image(image_rgb)
        _check_camera(camera, image)
        hands: list[HandDetection] = []
        with self._lock:  # one LiteRT interpreter pair per detector: calls run one at a time
            tensor, to_image = _letterbox(image, PALM_INPUT_SIZE)
            first = self._palm_pass(tensor)
            palms = self._palms_px(first, to_image, image.shape)
            passes = self._hands_from_palms(image, palms, hands, 0, camera)
            if self.flip_palms and len(hands) < self.max_hands:
                second = self._palm_pass(tensor, mirrored=True)
                seen = first[0]
                new = [
                    i
                    for i, box in enumerate(second[0])
                    if seen.size == 0 or _iou(box, seen).max() <= self.nms_iou
                ]
                second = tuple(x[new] for x in second)
                palms = self._palms_px(second, to_image, image.shape)
                self._hands_from_palms(image, palms, hands, passes, camera)
        hands = [h for h in hands if h.box.score >= self.score_threshold]
        hands.sort(key=lambda h: -h.box.score)
        return hands

    def _hands_from_palms(
        self,
        image: np.ndarray,
        palms: list,
        hands: list[HandDetection],
        passes: int,
        camera: CameraModel | None = None,
    ) -> int:
        """Landmark passes on ``palms`` (best first) appended to ``hands``, up to ``max_hands`` in all; the
        landmark passes of this frame so far (``passes``) and these at most 2 x max_hands: a false palm
        (rejected by the landmark model) or a second palm of a hand already found does not use up a hand.
        Returns the landmark passes so far."""
        for palm_box, palm_kps, palm_score in palms:
            if len(hands) >= self.max_hands or passes >= 2 * self.max_hands:
                break
            passes += 1
            hand = self._refine(image, palm_box, palm_kps, palm_score, camera)
            if hand is not None and not any(_same_hand(hand, other) for other in hands):
                hands.append(hand)
        return passes

    def detect_palms(self, image_rgb: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, float]]:
        """Stage 1 only: [(palm box xyxy px (4,), 7 palm keypoints px (7, 2), score)], best first; both
        palm passes (with ``flip_palms``) merged."""
        image = _check_image(image_rgb)
        tensor, to_image = _letterbox(image, PALM_INPUT_SIZE)
        with self._lock:
            raw = self._palm_pass(tensor)
            if self.flip_palms:
                raw = tuple(np.concatenate(pair) for pair in zip(raw, self._palm_pass(tensor, mirrored=True)))
        return self._palms_px(raw, to_image, image.shape)

    def _palm_pass(self, tensor: np.ndarray, mirrored: bool = False):
        """One palm-model pass on the letterboxed image (or its mirror, detections mapped back: x -> 1 - x):
        boxes (N, 4), keypoints (N, 7, 2), scores (N,), normalised letterboxed frame."""
        if not mirrored:
            return self._run_palm(tensor)
        boxes, kps, scores = self._run_palm(np.ascontiguousarray(tensor[:, ::-1]))
        boxes = np.stack([1.0 - boxes[:, 2], boxes[:, 1], 1.0 - boxes[:, 0], boxes[:, 3]], axis=1)
        kps = np.stack([1.0 - kps[..., 0], kps[..., 1]], axis=-1)
        return boxes, kps, scores

    def _palms_px(self, raw, to_image, shape) -> list[tuple[np.ndarray, np.ndarray, float]]:
        """Weighted NMS of raw palm detections, in image pixels (clipped), best first."""
        boxes, kps, scores = raw
        if scores.size == 0:
            return []
        h, w = shape[:2]
        palms = []
        for box, kp, score in weighted_nms(boxes, kps, scores, self.nms_iou):
            box_px = np.concatenate([to_image(box[:2]), to_image(box[2:])])
            box_px[[0, 2]] = box_px[[0, 2]].clip(0, w)
            box_px[[1, 3]] = box_px[[1, 3]].clip(0, h)
            if box_px[2] - box_px[0] < 1 or box_px[3] - box_px[1] < 1:
                continue
            palms.append((box_px, to_image(kp), score))
        return palms

    # -- stages ---------------------------------------------------------------------------------------

    def _run_palm(self, tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Palm model on one (192, 192, 3) tensor -> boxes (N, 4) xyxy, keypoints (N, 7, 2) (both
        normalised, letterboxed frame) and scores (N,) of the anchors above ``score_threshold``."""
        self._palm.set_tensor(self._palm_in, tensor[None])
        self._palm.invoke()
        raw = self._palm.get_tensor(self._palm_regressors)[0]  # (2016, 18)
        logits = self._palm.get_tensor(self._palm_logits)[0, :, 0].astype(np.float64)  # (2016,)
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -_SCORE_CLIP, _SCORE_CLIP)))
        keep = scores >= self.score_threshold
        raw, scores, anchors = raw[keep].astype(np.float64), scores[keep], self._anchors[keep]
        # (x_centre, y_centre, w, h) then 7 x (x, y): offsets in input pixels from the anchor centre
        centre = raw[:, 0:2] / PALM_INPUT_SIZE + anchors
        size = raw[:, 2:4] / PALM_INPUT_SIZE
        boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
        kps = raw[:, 4:].reshape(-1, NUM_PALM_KEYPOINTS, 2) / PALM_INPUT_SIZE + anchors[:, None, :]
        return boxes, kps, scores

    def _refine(
        self,
        image: np.ndarray,
        palm_box: np.ndarray,
        palm_kps: np.ndarray,
        palm_score: float,
        camera: CameraModel | None = None,
    ) -> HandDetection | None:
        """Stage 2 for one palm: rotated hand rect -> landmark model -> HandDetection, or None if absent."""
        # palm -> hand rect, pixels (MediaPipe computes it in normalised units; same thing for squares)
        wrist, mcp = palm_kps[PALM_WRIST_KEYPOINT], palm_kps[PALM_MIDDLE_MCP_KEYPOINT]
        rotation = up_angle(wrist, mcp)
        bw, bh = palm_box[2] - palm_box[0], palm_box[3] - palm_box[1]
        centre = (palm_box[:2] + palm_box[2:]) / 2 + _rotation(rotation) @ np.array([0.0, _RECT_SHIFT_Y * bh])
        size = max(bw, bh) * _RECT_SCALE
        palm = tuple(float(v) for v in palm_box)
        return self._landmark_pass(image, centre, size, rotation, palm_score, palm, camera=camera)

    def landmarks_on_rect(
        self,
        image_rgb: np.ndarray,
        centre_px: np.ndarray,
        size_px: float,
        rotation_rad: float = 0.0,
        score: float = 1.0,
        min_presence: float | None = None,
        camera: CameraModel | None = None,
        view: RectifiedCrop | None = None,
    ) -> HandDetection | None:
        """The hand-landmark model on one rotated square rect of the image (no palm detector).

        ``centre_px`` in this module's continuous pixel coordinates; ``rotation_rad`` as
        ``HandDetection.rect_rotation_rad``. None when the hand presence is below ``min_presence``
        (default: the detector's ``presence_threshold``). ``score`` becomes ``palm_score``. ``camera``:
        see the rect through a virtual camera looking at it (module docstring), ``view`` (with ``camera``):
        that virtual camera where the caller has it (:func:`view_from_landmarks`).
        """
        image = _check_image(image_rgb)
        _check_camera(camera, image)
        if view is not None and (camera is None or view.size != LANDMARK_INPUT_SIZE):
            raise ValueError(f"a view needs the camera and a {LANDMARK_INPUT_SIZE} px crop")
        centre = np.asarray(centre_px, dtype=np.float64)
        x0, y0 = centre - size_px / 2
        box = (float(x0), float(y0), float(x0 + size_px), float(y0 + size_px))
        with self._lock:
            return self._landmark_pass(
                image, centre, float(size_px), float(rotation_rad), score, box, min_presence, camera, view
            )

    def landmarks_in_box(
        self, image_rgb: np.ndarray, box: HandBox, camera: CameraModel | None = None
    ) -> HandDetection | None:
        """The landmark model on a given hand box, as MediaPipe's tracking does it: a first pass on the
        box's upright square (``BOX_RECT_SCALE`` x its longest side, the image model's crop), then a second
        pass on :func:`rect_from_landmarks` of the first pass's landmarks (rotated so that wrist -> middle
        MCP points up: the model is trained on such crops). None when the second pass sees no hand (presence
        below ``presence_threshold``); the first pass only places the second."""
        x0, y0, x1, y1 = box.xyxy_px
        centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
        side = max(x1 - x0, y1 - y0) * BOX_RECT_SCALE
        with self._lock:
            first = self.landmarks_on_rect(
                image_rgb, centre, side, 0.0, box.score, min_presence=0.0, camera=camera
            )
            if first is None:
                return None
            centre, size, rotation = rect_from_landmarks(first.landmarks_px)
            view = _view_or_none(camera, first.landmarks_px)
            return self.landmarks_on_rect(
                image_rgb, centre, size, rotation, box.score, camera=camera, view=view
            )

    def landmarks_for_box(
        self, image_rgb: np.ndarray, box: HandBox, camera: CameraModel | None = None
    ) -> HandDetection | None:
        """The landmark detection of one box, or None (no hand there): the box's own
        (``HandBox.landmarks``: this detector made it), else one landmark pass on its ``landmark_rect``
        (a hand the tracker carries over, :meth:`landmarks_on_rect`; with ``camera``, drawn in the view of
        the landmarks it came from, ``HandBox.landmark_rect_from``), else the two passes of
        :meth:`landmarks_in_box` (a box given without either). ``camera``: see the rects through a virtual
        camera looking at them (module docstring)."""
        if box.landmarks is not None:
            return box.landmarks
        if box.landmark_rect is not None:
            cx, cy, size, rotation = box.landmark_rect
            view = _view_or_none(camera, box.landmark_rect_from)
            return self.landmarks_on_rect(
                image_rgb, np.array([cx, cy]), size, rotation, camera=camera, view=view
            )
        return self.landmarks_in_box(image_rgb, box, camera)

    def track(
        self, image_rgb: np.ndarray, boxes: list[HandBox], camera: CameraModel | None = None
    ) -> list[HandBox]:
        """MediaPipe's VIDEO-mode step for the hands the tracker carries over from the previous frame
        (``HandTracker.boxes_for_next_frame``): each box's landmark detection (:meth:`landmarks_for_box`:
        one landmark pass on its rect) attached as ``HandBox.landmarks``, and its box redrawn round those
        landmarks as :meth:`detect` draws it. Side and scores stay the track's. A hand whose presence falls
        below ``presence_threshold`` is left out (lost: the tracker then asks for the palm detector).

        So every estimator gets this frame's landmarks for a tracked hand, not only the landmark estimator:
        the image model's box and upright direction come from them instead of from its own previous answer.
        """
        out = []
        for box in boxes:
            det = self.landmarks_for_box(image_rgb, box, camera)
            if det is not None:
                out.append(
                    dataclasses.replace(
                        box,
                        xyxy_px=det.box.xyxy_px,
                        landmarks=det,
                        landmark_rect=None,
                        landmark_rect_from=None,
                    )
                )
        return out

    def _landmark_pass(
        self,
        image: np.ndarray,
        centre: np.ndarray,
        size: float,
        rotation: float,
        palm_score: float,
        palm_box: tuple[float, float, float, float],
        min_presence: float | None = None,
        camera: CameraModel | None = None,
        view: RectifiedCrop | None = None,
    ) -> HandDetection | None:
        """The hand-landmark model on one rotated square crop (``camera``: seen through a virtual camera
        looking at it, ``view`` or :func:`rectified_rect_crop`'s) -> HandDetection, or None if no hand."""
        if camera is None:
            crop, to_image = rotated_crop(image, centre, size, rotation, LANDMARK_INPUT_SIZE)
        else:
            try:
                crop, to_image, unroll = rectified_rect_crop(image, camera, centre, size, rotation, view)
            except ValueError as exc:  # a rect centred outside the lens model: no view of it
                logger.debug("rect at %s not seen through the lens: %s", np.round(centre), exc)
                return None
        out = self._landmark.infer(crop[None])
        presence = float(out.presence.ravel()[0])
        if presence < (self.presence_threshold if min_presence is None else min_presence):
            logger.debug("palm at %s rejected: hand presence %.2f", np.round(palm_box), presence)
            return None
        lm = out.landmarks[0].reshape(NUM_LANDMARKS, 3).astype(np.float64)
        world = np.asarray(out.world_landmarks[0].reshape(NUM_LANDMARKS, 3), np.float64)
        world = world_to_image_axes(world, rotation) if camera is None else world @ unroll
        p_left_selfie = float(out.handedness.ravel()[0])
        # In a mirrored (selfie) image MediaPipe's "Left" is the person's left hand; in a camera image
        # (not mirrored) it is their right hand.
        p_right = 1.0 - p_left_selfie if self.mirrored_input else p_left_selfie
        side, side_score = ("right", p_right) if p_right >= 0.5 else ("left", 1.0 - p_right)

        landmarks_px = np.empty((NUM_LANDMARKS, 3))
        landmarks_px[:, :2] = to_image(lm[:, :2])
        landmarks_px[:, 2] = lm[:, 2] * size / LANDMARK_INPUT_SIZE
        if not np.all(np.isfinite(landmarks_px)):  # a landmark on a ray outside the lens model
            return None

        h, w = image.shape[:2]
        lo, hi = landmarks_px[:, :2].min(0), landmarks_px[:, :2].max(0)
        grow = (hi - lo) * self.box_margin
        lo = np.clip(lo - grow, 0, [w, h])
        hi = np.clip(hi + grow, 0, [w, h])
        if hi[0] - lo[0] < 1 or hi[1] - lo[1] < 1:
            return None
        box = HandBox(
            xyxy_px=(float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])),
            side=side,
            score=float(np.clip(palm_score * presence, 0.0, 1.0)),
            side_score=float(np.clip(side_score, 0.0, 1.0)),
        )
        return HandDetection(
            box=box,
            landmarks_px=landmarks_px,
            landmarks_world_m=world,
            presence=presence,
            palm_score=float(palm_score),
            palm_box_xyxy_px=palm_box,
            rect_center_px=(float(centre[0]), float(centre[1])),
            rect_size_px=float(size),
            rect_rotation_rad=float(rotation),
        )


def rect_from_landmarks(landmarks_px: np.ndarray) -> tuple[np.ndarray, float, float]:
    """MediaPipe's next-frame hand rect from 21 landmarks (``hand_landmark_landmarks_to_roi``): the
    landmarks that move least (``TRACKING_LANDMARKS``), rotation from the wrist to the middle-finger MCP,
    their rotated box scaled by ``_LANDMARK_RECT_SCALE`` and shifted by ``_LANDMARK_RECT_SHIFT_Y`` of its
    height. Returns (centre (2,), side, rotation rad), the centre in the landmarks' pixel convention."""
    p = np.asarray(landmarks_px, np.float64)[:, :2]
    rotation = up_angle(p[0], p[9])
    sub = p[list(TRACKING_LANDMARKS)]
    c0 = (sub.min(0) + sub.max(0)) / 2
    R = _rotation(rotation)
    local = (sub - c0) @ R  # into the rect's frame (R^T p)
    lo, hi = local.min(0), local.max(0)
    w, h = hi - lo
    centre = c0 + R @ ((lo + hi) / 2) + R @ np.array([0.0, _LANDMARK_RECT_SHIFT_Y * h])
    return centre, float(max(w, h) * _LANDMARK_RECT_SCALE), float(rotation)


def _same_hand(a: HandDetection, b: HandDetection) -> bool:
    """Two landmark boxes of one hand (two palm detections of it): same side and IoU > 0.5, or IoU > 0.8.

    Two hands of different sides may overlap a lot (clasped hands: IoU 0.45 in our InterHand2.6M test).
    """
    iou = _iou(np.asarray(a.box.xyxy_px), np.asarray([b.box.xyxy_px]))[0]
    return iou > 0.8 or (iou > 0.5 and a.box.side == b.box.side)


# -- image helpers ------------------------------------------------------------------------------------


def _check_image(image_rgb: np.ndarray) -> np.ndarray:
    if not isinstance(image_rgb, np.ndarray):
        raise ValueError(f"image_rgb must be a numpy array, got {type(image_rgb).__name__}")
    if image_rgb.dtype != np.uint8:
        raise ValueError(f"image_rgb must be uint8 RGB, got dtype {image_rgb.dtype}")
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
        raise ValueError(f"image_rgb must have shape (H, W, 3), got {image_rgb.shape}")
    if image_rgb.shape[0] < 2 or image_rgb.shape[1] < 2:
        raise ValueError(f"image_rgb is empty or degenerate: shape {image_rgb.shape}")
    return np.ascontiguousarray(image_rgb)


def _letterbox(image: np.ndarray, size: int):
    """Image -> (size, size, 3) float32 in [0, 1], aspect kept, centred, zero padding.

    Returns the tensor and ``to_image(points_norm (..., 2)) -> points_px``: from normalised tensor
    coordinates back to source-image pixels (continuous coordinates).
    """
    h, w = image.shape[:2]
    scale = size / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    resized = cv2.resize(
        image, (new_w, new_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    )
    pad_x, pad_y = (size - new_w) // 2, (size - new_h) // 2
    canvas = np.zeros((size, size, 3), np.float32)
    canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized.astype(np.float32) / 255.0
    sx, sy = new_w / w, new_h / h  # exact per-axis scales of cv2.resize

    def to_image(points: np.ndarray) -> np.ndarray:
        p = np.asarray(points, dtype=np.float64) * size
        return np.stack([(p[..., 0] - pad_x) / sx, (p[..., 1] - pad_y) / sy], axis=-1)

    return canvas, to_image


def world_to_image_axes(world_crop_m: np.ndarray, rotation: float) -> np.ndarray:
    """(21, 3) float64: the landmark network's world landmarks (m, axes of its crop: x right, y down in the
    crop) turned into the image's axes by the crop's ``rotation`` (rad, as :func:`rotated_crop`'s: the same
    turn that maps crop pixels to image pixels), x' = x cos a - y sin a, y' = x sin a + y cos a, z kept --
    what MediaPipe's WorldLandmarkProjectionCalculator does; ``world @ roll_matrix(rotation)`` undoes it."""
    return np.asarray(world_crop_m, np.float64) @ roll_matrix(rotation).T


def rotated_crop(image: np.ndarray, centre: np.ndarray, size: float, rotation: float, out: int):
    """Square crop of side ``size`` px centred at ``centre``, rotated by ``rotation``, to (out, out, 3) [0,1].

    A crop point q (crop px, continuous) comes from the image point centre + R(rotation) (q/out - 0.5) size.
    Returns the crop and ``to_image(crop_px (..., 2)) -> image px``. Borders replicate the edge.
    """
    A = _rotation(rotation) * (size / out)  # crop px -> image px (linear part)
    b = np.asarray(centre, dtype=np.float64) - A @ np.array([out / 2, out / 2])
    # cv2 maps pixel indices (centres at integer coords); continuous = index + 0.5 on both sides
    M = np.hstack([A, (b + A @ np.array([0.5, 0.5]) - 0.5)[:, None]])
    crop = cv2.warpAffine(
        image,
        M,
        (out, out),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )

    def to_image(points: np.ndarray) -> np.ndarray:
        return np.asarray(points, dtype=np.float64) @ A.T + b

    return crop.astype(np.float32) / 255.0, to_image


def rectified_rect_crop(
    image: np.ndarray,
    camera: CameraModel,
    centre: np.ndarray,
    size: float,
    rotation: float,
    view: RectifiedCrop | None = None,
):
    """The rect (continuous px, as :func:`rotated_crop`'s) seen through a virtual camera looking straight at
    it (``view``, else ``perspective_crop.rectify_rect``'s), (224, 224, 3) float32 [0, 1]. Returns the crop,
    ``to_image(crop px (..., 2)) -> image px`` (continuous; NaN where a ray is outside the lens model) and
    the (3, 3) matrix that turns world landmarks (rows) from the crop's axes into the virtual camera's
    without its roll (the view frame). Raises ValueError where the rect cannot be seen so."""
    centre_px = np.asarray(centre, np.float64) - 0.5  # continuous -> the camera's pixel centres
    rc = view if view is not None else rectify_rect(camera, centre_px, size, rotation, LANDMARK_INPUT_SIZE)
    crop = warp_rectified(image, camera, rc)

    def to_image(points: np.ndarray) -> np.ndarray:
        p = np.asarray(points, dtype=np.float64)
        flat = rectified_to_image(rc, camera, p.reshape(-1, 2) - 0.5) + 0.5
        return flat.reshape(p.shape)

    unroll = rc.R @ look_at_rotation(rc.axis_cam).T  # p_rolled = unroll @ p_view; rows: world @ unroll
    return crop.astype(np.float32) / 255.0, to_image, unroll


def view_from_landmarks(camera: CameraModel, landmarks_px: np.ndarray) -> RectifiedCrop:
    """MediaPipe's next rect from 21 landmarks (:func:`rect_from_landmarks`), drawn where the hand is seen
    as an ordinary camera sees it: in the tangent plane of a virtual camera looking at the tracking
    landmarks' mean ray, then that rect as a rectified crop (a virtual camera looking at its centre, rolled
    so that wrist -> middle MCP points up, the rect's side filling the 224 px crop). ``landmarks_px``:
    (21, 2+) continuous px of ``camera``'s image. Raises ValueError where a landmark is outside the lens
    model or behind that view, or without 21 landmarks."""
    landmarks = np.asarray(landmarks_px, np.float64)
    if landmarks.ndim != 2 or landmarks.shape[0] != NUM_LANDMARKS or landmarks.shape[1] < 2:
        raise ValueError(f"need ({NUM_LANDMARKS}, 2+) landmarks, got shape {landmarks.shape}")
    rays = camera.pixels_to_rays(landmarks[:, :2] - 0.5)
    if not np.all(np.isfinite(rays)):
        raise ValueError("a landmark is outside the lens model")
    mean_ray, q = tangent_view(rays[list(TRACKING_LANDMARKS)].mean(0), rays, "a landmark")
    centre, side, _ = rect_from_landmarks(q)  # tangents: the rect in a unit-focal view
    if not np.all(np.isfinite(centre)):
        raise ValueError("the landmarks give no rect")
    # wrist -> middle MCP up, as the rect's rotation
    return upright_view(mean_ray, centre, side / 2.0, LANDMARK_INPUT_SIZE, rays[0], rays[9])


def _view_or_none(camera: CameraModel | None, landmarks_px: np.ndarray | None) -> RectifiedCrop | None:
    """:func:`view_from_landmarks`, or None without a camera or landmarks, or where it raises (the caller
    then cuts the plain rect, or maps it into a view)."""
    if camera is None or landmarks_px is None:
        return None
    try:
        return view_from_landmarks(camera, landmarks_px)
    except ValueError as exc:
        logger.debug("no view from the landmarks: %s", exc)
        return None


def _check_camera(camera: CameraModel | None, image: np.ndarray) -> None:
    """ValueError unless ``camera`` is None or a CameraModel of ``image``'s size."""
    if camera is None:
        return
    if not isinstance(camera, CameraModel):
        raise ValueError(f"camera must be a CameraModel or None, got {type(camera).__name__}")
    if (camera.width, camera.height) != (image.shape[1], image.shape[0]):
        raise ValueError(
            f"image is {image.shape[1]}x{image.shape[0]} but the camera is {camera.width}x{camera.height}"
        )


def landmark_crop(image_rgb: np.ndarray, detection: HandDetection) -> np.ndarray:
    """The (224, 224, 3) float32 [0, 1] crop of ``detection``'s rect: what the landmark network saw for a
    plain pass (one seen through the camera saw that rect's view instead)."""
    centre = np.asarray(detection.rect_center_px, dtype=np.float64)
    rotation = detection.rect_rotation_rad
    return rotated_crop(image_rgb, centre, detection.rect_size_px, rotation, LANDMARK_INPUT_SIZE)[0]
