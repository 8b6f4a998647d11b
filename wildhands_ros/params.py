"""Parameters of wildhands_node: one table of specs, declared with descriptors, read into a frozen dataclass.

    specs = PARAM_SPECS                 # name -> ParamSpec (default, description, choices / range)
    declare_parameters(node)            # every parameter with a ParameterDescriptor
    p = NodeParams.from_node(node)      # ValueError: engine='trt' not in {'torch', 'onnxruntime'}

``config/hands.yaml`` mirrors the defaults (a test checks they agree). Parameters marked ``read_only`` build
the pipeline, the detector or the subscriptions and need a restart; the others can be changed at run time
(``ros2 param set``), and :func:`check_value` refuses bad values with a reason.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import yaml
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

from wildhands.handmodel import HAND_MODEL_NAMES
from wildhands.model.config import BACKBONE_CHANNELS, ModelConfig
from wildhands.model.weights import SHIPPED_BACKBONE
from wildhands.runtime.detection import DETECTORS
from wildhands.runtime.filters import OneEuroConfig
from wildhands.runtime.pipeline import (
    BOX_SCALE_RANGE,
    CROP_MODES,
    ENGINES,
    ESTIMATORS,
    LANDMARK_ENGINE_CHOICES,
    MAX_HANDS_RANGE,
    PipelineConfig,
)
from wildhands.runtime.refine import STEPS_RANGE, RefineConfig
from wildhands.runtime.tracking import TrackingConfig

CAMERA_INFO_POLICIES = ("skip", "estimate")
QOS_RELIABILITIES = ("best_effort", "reliable")
# parameters every rclpy node has, never reported as unknown
RCLPY_PARAMETERS = ("use_sim_time", "start_type_description_service")


@dataclass(frozen=True)
class ParamSpec:
    default: Any
    description: str
    choices: tuple[str, ...] | None = None
    range: tuple[float, float] | None = None  # inclusive
    read_only: bool = False
    non_empty: bool = False  # strings: '' is refused


PARAM_SPECS: dict[str, ParamSpec] = {
    # --- network / pipeline (restart to change) ---
    "estimator": ParamSpec(
        "landmarks",
        "How hands are estimated: landmarks (the hand-landmark network's 2D + world landmarks lifted "
        "into the hand model with KPE and refined through the camera model: best on real images) or image "
        "(the WildHands image model with `weights`).",
        ESTIMATORS,
        read_only=True,
    ),
    "refine": ParamSpec(
        True,
        "estimator=landmarks: fit the hand model to the landmarks through the camera model (false: the "
        "lifting head's answer).",
        read_only=True,
    ),
    "tracked_steps": ParamSpec(
        0,
        "estimator=landmarks with refine and tracking: a hand tracked from the previous frame starts its fit "
        "from that frame's hand with this many steps instead of from the lifting head's answer with "
        f"{RefineConfig().iterations} (0 = off; 2: the fit in under half its time, docs/engines.md).",
        range=STEPS_RANGE,
        read_only=True,
    ),
    "lifting_weights": ParamSpec(
        "default",
        "estimator=landmarks: the lifting model (default = the shipped one, hash-checked), a file, or none "
        "(the fit starts from PnP of the world landmarks).",
        read_only=True,
    ),
    "landmark_engine": ParamSpec(
        "auto",
        "estimator=landmarks: what runs the hand-landmark network: auto (LiteRT on the CPU, TensorRT or "
        "torch on a CUDA device), litert, torch, onnxruntime or tensorrt.",
        LANDMARK_ENGINE_CHOICES,
        read_only=True,
    ),
    "engine": ParamSpec(
        "onnxruntime",
        "Inference engine of the WildHands network (onnxruntime: CPU; torch: CPU/CUDA; tensorrt: NVIDIA "
        "GPUs).",
        tuple(ENGINES),
        read_only=True,
    ),
    "weights": ParamSpec(
        "default",
        "default = the shipped weights (models/manifest.json, hash-checked), a manifest name, a checkpoint "
        "path, or empty/untrained = an UNTRAINED network (output meaningless).",
        read_only=True,
    ),
    "backbone": ParamSpec(
        SHIPPED_BACKBONE,
        "Backbone of an untrained network (weights empty); weights carry their own.",
        tuple(BACKBONE_CHANNELS),
        read_only=True,
    ),
    "device": ParamSpec("cpu", "Torch device for engine=torch: cpu, cuda, cuda:1, ...", read_only=True),
    "threads": ParamSpec(
        0,
        "CPU cores the pipeline may use (0 = all this process may run on): LiteRT and ONNX Runtime get "
        "them, torch only when it runs the image model, numpy's BLAS one (wildhands.runtime.threads).",
        range=(0, 256),
        read_only=True,
    ),
    "switch_interval_ms": ParamSpec(
        0.5,
        "ms, Python's thread switch interval, set for the node's process (sys.setswitchinterval): the "
        "worker thread and the executor's callbacks (images in, hands out) share the GIL, and Python's "
        "5 ms default lets the worker hold them off; 0 = leave the interpreter's. Restored when the node "
        "is destroyed.",
        range=(0.0, 100.0),
        read_only=True,
    ),
    "hand_model": ParamSpec("open", "Hand model: open (shipped) or mano.", HAND_MODEL_NAMES, read_only=True),
    "mano_model_path": ParamSpec("", "MANO_RIGHT.pkl (or its folder) for hand_model=mano.", read_only=True),
    "max_hands": ParamSpec(
        2, "At most this many hands per image (highest scores).", range=MAX_HANDS_RANGE, read_only=True
    ),
    "box_scale": ParamSpec(
        1.5, "Side of the square crop / longest side of the hand box.", range=BOX_SCALE_RANGE, read_only=True
    ),
    "crop_mode": ParamSpec(
        "auto",
        "Hand crops: box (square of the distorted image), rectified (virtual pinhole camera looking at the "
        "hand: not cut or bent by the lens) or auto (rectified for equidistant/fisheye cameras only). "
        "The landmark estimator's landmark passes look through the lens with rectified only.",
        CROP_MODES,
        read_only=True,
    ),
    # --- detection ---
    "detector": ParamSpec(
        "mediapipe",
        "Hand detector run on images without upstream boxes; none = use hand_boxes only.",
        DETECTORS,
        read_only=True,
    ),
    "detector_score_threshold": ParamSpec(
        0.5, "Minimum detector score of a hand.", range=(0.0, 1.0), read_only=True
    ),
    "use_hand_boxes": ParamSpec(
        True, "Subscribe to hand_boxes (HandDetectionArray) from an upstream detector.", read_only=True
    ),
    "hand_boxes_timeout": ParamSpec(
        0.1, "s the worker waits for hand_boxes with the image's stamp (detector=none).", range=(0.0, 5.0)
    ),
    # --- camera / synchronisation ---
    "camera_info_policy": ParamSpec(
        "skip",
        "Without a valid CameraInfo: skip the image, or estimate intrinsics from the image size and "
        "estimate_hfov_deg (every Hand then has intrinsics_estimated=true).",
        CAMERA_INFO_POLICIES,
    ),
    "estimate_hfov_deg": ParamSpec(
        90.0, "Horizontal field of view used by camera_info_policy=estimate (deg).", range=(10.0, 179.0)
    ),
    "camera_info_timeout": ParamSpec(
        1.0,
        "s without any CameraInfo after which camera_info counts as missing; also the longest an image "
        "waits for its CameraInfo while CameraInfo flows.",
        range=(0.05, 60.0),
    ),
    "camera_info_wait": ParamSpec(
        0.1,
        "s an image waits for a CameraInfo that arrives after it while camera_info counts as missing (at "
        "start-up, after a pause in the stream); then camera_info_policy applies. With "
        "camera_info_policy=estimate and no CameraInfo at all, this is added to the latency.",
        range=(0.0, 5.0),
    ),
    "max_sync_delay": ParamSpec(
        0.02,
        "s, largest stamp difference of a paired image and camera_info (approximate-time slop).",
        range=(0.0, 1.0),
        read_only=True,
    ),
    "sync_queue_size": ParamSpec(
        10, "Messages kept per input while pairing image and camera_info.", range=(1, 100), read_only=True
    ),
    "default_frame_id": ParamSpec(
        "camera_color_optical_frame",
        "frame_id used when an image arrives with an empty header.frame_id.",
        non_empty=True,
    ),
    "input_qos_reliability": ParamSpec(
        "best_effort",
        "Reliability of the image, camera_info and hand_boxes subscriptions. best_effort (the sensor-data "
        "profile) connects to every publisher; reliable connects to reliable publishers only and gets "
        "large images across processes where best effort loses them (docs/node.md: large images).",
        QOS_RELIABILITIES,
        read_only=True,
    ),
    "input_qos_depth": ParamSpec(
        5, "History depth (keep last) of the input subscriptions.", range=(1, 100), read_only=True
    ),
    # --- tracking and smoothing (wildhands.runtime.tracking) ---
    "tracking": ParamSpec(True, "Give hands stable track ids across frames (false: Hand.track_id = -1)."),
    "smoothing": ParamSpec(
        True, "One-Euro smoothing of keypoints, wrist pose and mesh per track (needs tracking)."
    ),
    "one_euro_min_cutoff": ParamSpec(
        1.0,
        "Hz, One-Euro cutoff at rest (keypoints and wrist rotation); lower = smoother, more lag.",
        range=(0.01, 100.0),
    ),  # fmt: skip
    "one_euro_beta": ParamSpec(
        5.0,
        "s/m, One-Euro speed coefficient of the keypoints; higher = less lag in fast motion.",
        range=(0.0, 1000.0),
    ),  # fmt: skip
    "one_euro_rotation_beta": ParamSpec(
        0.5,
        "s/rad, One-Euro speed coefficient of the wrist rotation; higher = less lag in fast turns.",
        range=(0.0, 1000.0),
    ),  # fmt: skip
    "redetect_every": ParamSpec(
        10,
        "Run the palm detector at least every N frames; in between, a tracked hand's landmark pass looks "
        "where its previous frame's keypoints were (MediaPipe's VIDEO mode). The detector also runs when "
        "a track is lost or fewer than max_hands hands are tracked. 1 = every frame. Needs tracking.",
        range=(1, 1000),
    ),  # fmt: skip
    # --- outputs ---
    "frame_prefix": ParamSpec("hand", "TF frames are <frame_prefix>_<side>_<keypoint>.", non_empty=True),
    "publish_tf": ParamSpec(True, "Publish one TF frame per keypoint on /tf."),
    "publish_markers": ParamSpec(True, "Publish hands/markers (MarkerArray; built only while subscribed)."),
    "publish_mesh": ParamSpec(False, "Fill Hand.mesh_vertices / mesh_triangles in hands."),
    "publish_debug_image": ParamSpec(
        False, "Publish the overlay image on hands/debug_image (drawn only while subscribed)."
    ),
    "publish_points": ParamSpec(
        True, "Publish all keypoints as hands/points (PointCloud2; built only while subscribed)."
    ),
    "points_include_mesh": ParamSpec(False, "Add the mesh vertices to hands/points (joint field 255)."),
    "diagnostics_period": ParamSpec(
        1.0, "s between /diagnostics messages.", range=(0.1, 60.0), read_only=True
    ),
    "log_throttle_sec": ParamSpec(5.0, "s between repeats of the same warning.", range=(0.0, 3600.0)),
}


_TYPE_NAMES = {bool: "bool", int: "int", float: "float", str: "str", list: "array", bytes: "byte array"}


def check_value(name: str, value: Any, specs: dict[str, ParamSpec] | None = None) -> str | None:
    """The reason why ``value`` is not valid for parameter ``name`` of ``specs`` (default: this node's
    PARAM_SPECS), or None when it is."""
    spec = (PARAM_SPECS if specs is None else specs).get(name)
    if spec is None:
        return f"unknown parameter {name!r}"
    expected = type(spec.default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not expected:
        return (
            f"{name}={value!r} ({_TYPE_NAMES.get(type(value), type(value).__name__)}) must be of type "
            + (_TYPE_NAMES[expected])
        )
    if spec.non_empty and value == "":
        return f"{name}='' must not be empty"
    if spec.choices is not None and value not in spec.choices:
        return f"{name}={value!r} not in {{{', '.join(repr(c) for c in spec.choices)}}}"
    if spec.range is not None:
        lo, hi = spec.range
        if isinstance(value, float) and not math.isfinite(value) or not lo <= value <= hi:
            return f"{name}={value!r} must be in [{lo}, {hi}]"
    return None


def descriptor(name: str, specs: dict[str, ParamSpec] | None = None) -> ParameterDescriptor:
    """The ParameterDescriptor of ``name``: description, allowed values, range, read-only flag."""
    spec = (PARAM_SPECS if specs is None else specs)[name]
    # dynamic typing: rclpy's own type check would refuse a wrong type with numeric type codes and, for a
    # value from a params file, before our check; check_value refuses it with the names instead
    d = ParameterDescriptor(
        name=name, description=spec.description, read_only=spec.read_only, dynamic_typing=True
    )
    constraints = [f"type: {_TYPE_NAMES[type(spec.default)]}"]
    if spec.choices is not None:
        constraints.append("one of: " + ", ".join(spec.choices))
    if spec.non_empty:
        constraints.append("not empty")
    d.additional_constraints = "; ".join(constraints)
    if spec.range is not None:
        lo, hi = spec.range
        if isinstance(spec.default, float):
            d.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)]
        else:
            d.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=1)]
    return d


def declare_parameters(
    node, specs: dict[str, ParamSpec] | None = None, argv: list[str] | None = None
) -> None:
    """Declare every parameter of ``specs`` (default PARAM_SPECS) on ``node`` (--ros-args overrides apply),
    then check what the user gave (``argv``, default ``sys.argv``; see :func:`check_overrides`): a warning
    per unknown parameter, ValueError for a ``-p`` value that is refused."""
    specs = PARAM_SPECS if specs is None else specs
    for name, spec in specs.items():
        node.declare_parameter(name, spec.default, descriptor(name, specs))
    for warning in check_overrides(node, specs, sys.argv if argv is None else argv):
        node.get_logger().warning(warning)


def _cli_parameters(argv: list[str], node_name: str) -> dict[str, tuple[str, Any]]:
    """``-p name:=value`` / ``--param name:=value`` of the ``--ros-args`` sections of ``argv`` that apply to
    ``node_name``: name -> (the text as given, the value parsed as rcl parses it: YAML)."""
    out: dict[str, tuple[str, Any]] = {}
    in_ros_args = False
    tokens = iter(argv)
    for token in tokens:
        if token == "--ros-args":
            in_ros_args = True
        elif token == "--":
            in_ros_args = False
        elif in_ros_args and token in ("-p", "--param"):
            item = next(tokens, "")
            name, sep, text = item.partition(":=")
            if not sep:
                continue  # rcl itself refuses it
            target, _, name = name.rpartition(":")
            if target and target.lstrip("/").split("/")[-1] != node_name:
                continue  # for another node
            try:
                value = yaml.safe_load(text) if text else ""
            except yaml.YAMLError:
                value = text
            out[name] = (item, value)
    return out


def check_overrides(node, specs: dict[str, ParamSpec], argv: list[str]) -> list[str]:
    """What the user gave the node that it will not use.

    Returns one warning per unknown parameter name (from params files and ``-p``; with the closest known
    name). Raises ValueError for a ``-p`` value that ``check_value`` refuses: rcl silently drops a ``-p`` of
    another type than the same parameter in an earlier ``--params-file``, so without this the node would
    run with the file's value.
    """
    given = dict(getattr(node, "_parameter_overrides", {}))  # rclpy: params files and -p, merged by rcl
    cli = _cli_parameters(argv, node.get_name())
    for name, (item, value) in cli.items():
        if name in specs:
            reason = check_value(name, value, specs)
            if reason is not None:
                raise ValueError(f"-p {item}: {reason}")
    warnings = []
    for name in sorted(set(given) | set(cli)):
        if name in specs or name in RCLPY_PARAMETERS or name.startswith("qos_overrides."):
            continue
        close = difflib.get_close_matches(name, list(specs), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        warnings.append(f"unknown parameter {name!r} ignored{hint}; see `ros2 param list`")
    return warnings


class SpecParams:
    """What a node's typed parameter set does with its spec table ``SPECS`` (name -> :class:`ParamSpec`):
    coerce ints given for floats, check every value (ValueError naming the first bad one), read all from a
    node, make the defaults, apply changes. Subclasses are frozen dataclasses with one field per spec and
    may add cross-field checks in :meth:`check_together`."""

    SPECS: ClassVar[dict[str, ParamSpec]]

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(self.SPECS[f.name].default, float) and isinstance(value, int):
                object.__setattr__(self, f.name, float(value))
            reason = check_value(f.name, getattr(self, f.name), self.SPECS)
            if reason is not None:
                raise ValueError(reason)
        self.check_together()

    def check_together(self) -> None:
        """Cross-field checks (ValueError naming the fields); none by default."""

    @classmethod
    def defaults(cls):
        return cls(**{name: spec.default for name, spec in cls.SPECS.items()})

    @classmethod
    def from_node(cls, node):
        """Read every parameter once; ValueError naming the first bad one."""
        return cls(**{name: node.get_parameter(name).value for name in cls.SPECS})

    def updated(self, changes: dict[str, Any]):
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class NodeParams(SpecParams):
    SPECS: ClassVar[dict[str, ParamSpec]] = PARAM_SPECS

    estimator: str
    refine: bool
    tracked_steps: int
    lifting_weights: str
    landmark_engine: str
    engine: str
    weights: str
    backbone: str
    device: str
    threads: int
    switch_interval_ms: float
    hand_model: str
    mano_model_path: str
    max_hands: int
    box_scale: float
    crop_mode: str
    detector: str
    detector_score_threshold: float
    use_hand_boxes: bool
    hand_boxes_timeout: float
    camera_info_policy: str
    estimate_hfov_deg: float
    camera_info_timeout: float
    camera_info_wait: float
    max_sync_delay: float
    sync_queue_size: int
    default_frame_id: str
    input_qos_reliability: str
    input_qos_depth: int
    tracking: bool
    smoothing: bool
    one_euro_min_cutoff: float
    one_euro_beta: float
    one_euro_rotation_beta: float
    redetect_every: int
    frame_prefix: str
    publish_tf: bool
    publish_markers: bool
    publish_mesh: bool
    publish_debug_image: bool
    publish_points: bool
    points_include_mesh: bool
    diagnostics_period: float
    log_throttle_sec: float

    def pipeline_config(self) -> PipelineConfig:
        """The wildhands PipelineConfig these parameters describe."""
        return PipelineConfig(
            estimator=self.estimator,
            refine=self.refine,
            tracked_steps=self.tracked_steps,
            lifting_weights=self.lifting_weights or None,
            landmark_engine=self.landmark_engine,
            weights=self.weights or None,  # a name ("default") or a path, resolved by the Pipeline
            model=ModelConfig(backbone=self.backbone),
            engine=self.engine,
            device=self.device,
            threads=self.threads,
            box_scale=self.box_scale,
            crop_mode=self.crop_mode,
            max_hands=self.max_hands,
            hand_model=self.hand_model,
            mano_model_path=Path(self.mano_model_path) if self.mano_model_path else None,
        )

    def tracking_config(self) -> TrackingConfig:
        """The wildhands TrackingConfig these parameters describe: min_cutoff serves the keypoints and the
        wrist rotation; beta (s/m) the keypoints, rotation_beta (s/rad) the wrist rotation."""
        rotation = TrackingConfig().rotation_filter
        return TrackingConfig(
            enabled=self.tracking,
            smoothing=self.smoothing,
            redetect_every=self.redetect_every,
            position_filter=OneEuroConfig(min_cutoff=self.one_euro_min_cutoff, beta=self.one_euro_beta),
            rotation_filter=dataclasses.replace(
                rotation, min_cutoff=self.one_euro_min_cutoff, beta=self.one_euro_rotation_beta
            ),
        )

    def input_qos(self) -> QoSProfile:
        """QoS of the image, camera_info and hand_boxes subscriptions: the sensor-data profile (best effort,
        volatile) with ``input_qos_reliability`` and ``input_qos_depth``."""
        reliability = {"best_effort": ReliabilityPolicy.BEST_EFFORT, "reliable": ReliabilityPolicy.RELIABLE}
        return QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=self.input_qos_depth,
            reliability=reliability[self.input_qos_reliability],
            durability=qos_profile_sensor_data.durability,
        )


def on_set_parameters(params: list) -> SetParametersResult:
    """A set-parameters callback: refuse values that fail :func:`check_value`, with the reason."""
    for p in params:
        if p.name not in PARAM_SPECS:
            continue  # e.g. use_sim_time: rclpy's own
        reason = check_value(p.name, p.value)
        if reason is not None:
            return SetParametersResult(successful=False, reason=reason)
    return SetParametersResult(successful=True)
