"""``SyntheticConfig``: every knob of the synthetic egocentric generator, validated on construction.

Ranges are ``(low, high)`` pairs (inclusive); probabilities lie in [0, 1]. ``from_dict``/``from_yaml`` refuse
unknown keys, so a typo in a YAML file is an error, not a silently ignored setting::

    cfg = SyntheticConfig.from_dict({"fx_range_px": [300, 900], "occluder_prob": 0.5})
    SyntheticConfig.from_dict({"fx_rnge_px": [1, 2]})  # ValueError: unknown SyntheticConfig key(s): ...
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wildhands.data.synthetic.poses import OTHER_POSES
from wildhands.geometry.camera import pinhole_focal_px
from wildhands.model.grasp import NUM_GRASP_CLASSES

__all__ = ["BACKGROUNDS", "DEVICE_PATTERN", "HAND_LOOKS", "OCCLUDERS", "SyntheticConfig", "min_focal_px"]

Range = tuple[float, float]

#: valid ``SyntheticConfig.device`` values: 'cpu' (numpy/OpenCV), 'torch-cpu', 'cuda', 'cuda:N' (torch)
DEVICE_PATTERN = re.compile(r"^(cpu|torch-cpu|cuda(:\d+)?)$")
#: valid ``SyntheticConfig.hand_look`` values
HAND_LOOKS = ("tubes", "skin")
#: valid ``SyntheticConfig.backgrounds`` values
BACKGROUNDS = ("procedural", "photo_mix")
#: valid ``SyntheticConfig.occluders`` values
OCCLUDERS = ("boxes", "objects")


def min_focal_px(width: int, max_fov_deg: float) -> float:
    """The smallest focal length (px) at which a pinhole camera ``width`` px wide sees at most
    ``max_fov_deg`` across (centred principal point); 0 for 180 deg or more (no limit)."""
    if max_fov_deg >= 180.0:
        return 0.0
    return pinhole_focal_px(width, math.radians(max_fov_deg))


@dataclass(frozen=True)
class SyntheticConfig:
    """Settings of :func:`wildhands.data.synthetic.generator.generate_frame`.

    Camera:
        image_sizes: (width, height) choices, picked uniformly; each side 64..4096 px.
        fx_range_px: focal length of the pinhole / plumb_bob cameras, sampled **log-uniformly**.
        fy_jitter: fy = fx * (1 + U(-fy_jitter, fy_jitter)) (non-square pixels, slightly).
        principal_point_jitter: cx, cy = image centre + U(±jitter) * (width, height).
        distortion_mix: fractions of the distortion models ``none``, ``plumb_bob``, ``equidistant``
            (normalised; they need not sum to one, but at least one must be > 0).
        plumb_bob_k1/k2/k3_range, plumb_bob_p_max: radial ranges and |p1|, |p2| bound of plumb_bob cameras
            (typical of calibrated wide webcams/action cams: barrel k1 < 0). Coefficients that make the
            distortion non-monotonic over the image are shrunk until it is monotonic (see ``scene``).
        max_fov_deg: the widest horizontal field of view (deg) that a pinhole or plumb_bob camera's K may
            imply (``2 atan(width / 2 fx)``: the nominal one, lens coefficients ignored): fx is drawn
            log-uniformly from ``fx_range_px`` raised, per image width, to ``min_focal_px(width,
            max_fov_deg)``. Rectilinear lenses end at about 120 deg across (wider ones are fisheyes,
            drawn as equidistant cameras); ``fx_range_px`` alone reaches 145 deg on a 1280 px image,
            which stretches the image's edge ~11x radially. A barrel plumb_bob lens still sees wider than
            its K says. 180 (default) caps nothing: frames stay byte-identical.
        fisheye_fx_range_px: focal length of the equidistant (fisheye) cameras, log-uniform.
        fisheye_k_max: |k1|, |k2|, |k3|, |k4| bounds of the Kannala-Brandt coefficients.
    Hands:
        two_hands_prob: probability of two hands (one left, one right); otherwise one hand.
        left_prob: probability that a single hand is a left hand.
        depth_range_m: wrist depth (z in the optical frame), egocentric reach.
        max_hand_fraction: the hand's projected extent is at most this fraction of min(width, height)
            (the depth range is raised for long lenses so that hands fit).
        min_hand_px: the hand's projected extent is at least this many pixels.
        min_in_image_fraction: at least this fraction of the mesh's vertices project inside the image
            (truncation at the border is allowed, but the wrist is always in view).
        wrist_margin_px: the wrist keypoint lies at least this far inside the image.
        min_wrist_distance_m: two hands' wrists are at least this far apart (and their meshes don't touch).
        grasp_weights: relative frequency of the 8 grasp classes (``model.grasp.GRASP_CLASSES`` order).
        other_poses: how poses of grasp class ``other`` are drawn (``poses.OTHER_POSES``): ``'random'``
            (the original: independent random finger curls and thumb, many poses no hand takes; frames stay
            byte-identical) or ``'natural'``: relaxed hands, gestures and blends of two grasp templates with
            anatomical joint coupling (``poses.natural_other_pose``).
        finger_fan: the share of the hand model's rest-pose finger fan (``poses.finger_fan_rad``: index
            +6, ring -4, pinky -10 deg away from parallel) that every pose keeps: 1.0 (default; frames stay
            byte-identical) keeps it, so a pose's abduction adds to a fan; 0.0 takes it off, so the fingers
            of a pose without abduction lie parallel, as relaxed real hands hold them (the open model's
            straight fingers were spread twice as far as InterHand2.6M's and read narrower by MediaPipe's
            landmark network: docs/render-realism.md#the-palm-side-and-the-finger-fan).
    Appearance:
        occluder_prob: probability, per hand, of an object drawn over part of it.
        clutter_range: number of random shapes in the background.
        motion_blur_prob, motion_blur_px: probability and length range of a linear motion blur.
        noise_std_range: Gaussian sensor noise, standard deviation in 8-bit levels.
        jpeg_quality_range: JPEG quality of the final image (its artefacts are part of the image).
    Rendering:
        hand_look: ``'tubes'`` draws the hand model's own mesh, flat-shaded (the original look; frames of a
            seed stay byte-identical); ``'skin'`` draws the smooth render skin of ``render.hand_skin``
            (one surface, forearm and sleeve, per-vertex shading with wrap light, specular, ambient
            occlusion, nails and creases). Labels (keypoints, parameters) are the same model's either way;
            masks are the drawn hand's silhouette up to the wrist (forearm and sleeve occlude like objects).
        backgrounds: ``'procedural'`` (gradients, wood, tiles, noise, stripes, wall + worktop; the original
            draws, frames stay byte-identical) or ``'photo_mix'``: photo crops of scikit-image's CC0 /
            public-domain sample photos, desks / worktops in perspective and the procedural textures
            (``photo_textures``; needs scikit-image installed), with half as many clutter shapes.
        occluders: ``'boxes'`` (flat / textured polygons, ellipses, rectangles; the original) or
            ``'objects'``: held-looking mugs, cans, utensils and boxes near the palm, lit by the hand's light
            (``held_objects``; needs scikit-image too: labels and box faces are sometimes photo crops).
        grasped_objects: with ``hand_look: skin``, the probability that a hand in a power grasp holds a 3D
            object its fingers close round (``grasped_objects``: a handle / bottle cylinder across the palm
            for ``power_prismatic``, a ball for ``power_circular``), drawn in the skin's z-buffer so fingers
            wrap it; it occludes the hand like the forearm does. 0 (default) draws nothing and no random
            numbers: frames stay byte-identical.
        max_arm_occlusion: with ``hand_look: skin``, the largest share of a hand's model vertices that its
            own forearm and sleeve may hide from the camera (``generator.arm_hidden_share``: a capsule along
            the wrist axis); a placement that breaks it is drawn again, as one that leaves the image: 25 wrist
            positions, then a new pose and orientation, up to 40 times (then the hand is left out). Seen from
            the wearer's eyes, the forearm lies below the line of sight to the hand and hides little of it;
            the orientation prior alone often points the arm at the camera and hides most of the hand
            behind it. 0.05 keeps the rendered pixels behind the arm to about a tenth; 1.0 (default) checks
            nothing: frames stay byte-identical.
        device: where the image work runs (``backends``): ``'cpu'`` = numpy/OpenCV (the reference; the
            bytes of a frame never change), ``'torch-cpu'`` = the torch renderer on the CPU, ``'cuda'`` /
            ``'cuda:N'`` = the torch renderer on a GPU. Random draws, hand model and labels stay on the CPU:
            labels are identical on every device, images differ by float rounding.
    """

    image_sizes: tuple[tuple[int, int], ...] = ((640, 480), (800, 600), (960, 540), (1280, 720))
    fx_range_px: Range = (200.0, 1500.0)
    fy_jitter: float = 0.01
    principal_point_jitter: float = 0.03
    distortion_mix: tuple[float, float, float] = (0.5, 0.3, 0.2)
    plumb_bob_k1_range: Range = (-0.35, 0.05)
    plumb_bob_k2_range: Range = (-0.02, 0.12)
    plumb_bob_k3_range: Range = (-0.02, 0.02)
    plumb_bob_p_max: float = 0.002
    max_fov_deg: float = 180.0
    fisheye_fx_range_px: Range = (200.0, 500.0)
    fisheye_k_max: tuple[float, float, float, float] = (0.06, 0.03, 0.01, 0.005)
    two_hands_prob: float = 0.5
    left_prob: float = 0.5
    depth_range_m: Range = (0.2, 0.8)
    max_hand_fraction: float = 0.8
    min_hand_px: float = 24.0
    min_in_image_fraction: float = 0.4
    wrist_margin_px: float = 2.0
    min_wrist_distance_m: float = 0.08
    grasp_weights: tuple[float, ...] = (1.0,) * NUM_GRASP_CLASSES
    other_poses: str = "random"
    finger_fan: float = 1.0
    occluder_prob: float = 0.3
    clutter_range: tuple[int, int] = (0, 12)
    motion_blur_prob: float = 0.2
    motion_blur_px: Range = (3.0, 11.0)
    noise_std_range: Range = (0.0, 6.0)
    jpeg_quality_range: tuple[int, int] = (60, 95)
    hand_look: str = "tubes"
    backgrounds: str = "procedural"
    occluders: str = "boxes"
    grasped_objects: float = 0.0
    max_arm_occlusion: float = 1.0
    device: str = "cpu"

    # ------------------------------------------------------------------ validation
    def __post_init__(self) -> None:
        sizes = tuple(tuple(int(v) for v in s) for s in self.image_sizes)
        if not sizes or any(len(s) != 2 or not (64 <= s[0] <= 4096 and 64 <= s[1] <= 4096) for s in sizes):
            raise ValueError(
                f"image_sizes: need (width, height) pairs in 64..4096 px, got {self.image_sizes}"
            )
        object.__setattr__(self, "image_sizes", sizes)
        self._range("fx_range_px", 1.0, 1e5)
        self._range("fisheye_fx_range_px", 1.0, 1e5)
        self._number("max_fov_deg", 10.0, 180.0)
        for width, _ in sizes:
            need = min_focal_px(width, self.max_fov_deg)
            if need > self.fx_range_px[1]:
                raise ValueError(
                    f"max_fov_deg: {self.max_fov_deg:g} deg across a {width} px image needs fx >= "
                    f"{need:.0f} px, above fx_range_px's {self.fx_range_px[1]:g}"
                )
        self._range("plumb_bob_k1_range", -1.0, 1.0)
        self._range("plumb_bob_k2_range", -1.0, 1.0)
        self._range("plumb_bob_k3_range", -1.0, 1.0)
        self._range("depth_range_m", 0.05, 10.0)
        self._range("motion_blur_px", 1.0, 101.0)
        self._range("noise_std_range", 0.0, 100.0)
        self._range("jpeg_quality_range", 1, 100, integer=True)
        self._range("clutter_range", 0, 1000, integer=True)
        for name in ("fy_jitter", "principal_point_jitter"):
            self._number(name, 0.0, 0.25)
        for name in ("two_hands_prob", "left_prob", "occluder_prob", "motion_blur_prob"):
            self._number(name, 0.0, 1.0)
        self._number("plumb_bob_p_max", 0.0, 0.1)
        self._number("max_hand_fraction", 0.05, 5.0)
        self._number("min_hand_px", 1.0, 4096.0)
        self._number("min_in_image_fraction", 0.0, 1.0)
        self._number("wrist_margin_px", 0.0, 100.0)
        self._number("min_wrist_distance_m", 0.0, 1.0)
        self._weights("distortion_mix", 3)
        self._weights("grasp_weights", NUM_GRASP_CLASSES)
        k = tuple(float(v) for v in self.fisheye_k_max)
        if len(k) != 4 or any(not (math.isfinite(v) and 0.0 <= v <= 1.0) for v in k):
            raise ValueError(f"fisheye_k_max: need 4 numbers in [0, 1], got {self.fisheye_k_max}")
        object.__setattr__(self, "fisheye_k_max", k)
        if self.other_poses not in OTHER_POSES:
            raise ValueError(f"other_poses: need one of {OTHER_POSES}, got {self.other_poses!r}")
        self._number("finger_fan", 0.0, 1.0)
        if self.hand_look not in HAND_LOOKS:
            raise ValueError(f"hand_look: need one of {HAND_LOOKS}, got {self.hand_look!r}")
        if self.backgrounds not in BACKGROUNDS:
            raise ValueError(f"backgrounds: need one of {BACKGROUNDS}, got {self.backgrounds!r}")
        if self.occluders not in OCCLUDERS:
            raise ValueError(f"occluders: need one of {OCCLUDERS}, got {self.occluders!r}")
        self._number("grasped_objects", 0.0, 1.0)
        if self.grasped_objects > 0 and self.hand_look != "skin":
            raise ValueError(
                "grasped_objects: needs hand_look: skin (objects are drawn in the skin's z-buffer)"
            )
        self._number("max_arm_occlusion", 0.0, 1.0)
        if self.max_arm_occlusion < 1.0 and self.hand_look != "skin":
            raise ValueError("max_arm_occlusion: needs hand_look: skin (only the skin draws a forearm)")
        if not (isinstance(self.device, str) and DEVICE_PATTERN.match(self.device)):
            raise ValueError(f"device: need 'cpu', 'torch-cpu', 'cuda' or 'cuda:N', got {self.device!r}")

    def _number(self, name: str, lo: float, hi: float) -> None:
        v = getattr(self, name)
        if (
            isinstance(v, bool)
            or not isinstance(v, (int, float))
            or not math.isfinite(v)
            or not lo <= v <= hi
        ):
            raise ValueError(f"{name}: must be a number in [{lo}, {hi}], got {v!r}")
        object.__setattr__(self, name, float(v))

    def _range(self, name: str, lo: float, hi: float, integer: bool = False) -> None:
        v = getattr(self, name)
        try:
            a, b = (float(x) for x in v)
        except (TypeError, ValueError):
            raise ValueError(f"{name}: must be a (low, high) pair, got {v!r}") from None
        if not (math.isfinite(a) and math.isfinite(b) and lo <= a <= b <= hi):
            raise ValueError(f"{name}: need {lo} <= low <= high <= {hi}, got {v!r}")
        if integer and not (a.is_integer() and b.is_integer()):
            raise ValueError(f"{name}: must be integers, got {v!r}")
        object.__setattr__(self, name, (int(a), int(b)) if integer else (a, b))

    def _weights(self, name: str, n: int) -> None:
        v = getattr(self, name)
        try:
            w = tuple(float(x) for x in v)
        except (TypeError, ValueError):
            raise ValueError(f"{name}: must be {n} numbers, got {v!r}") from None
        if len(w) != n or any(not (math.isfinite(x) and x >= 0) for x in w) or sum(w) <= 0:
            raise ValueError(f"{name}: need {n} non-negative numbers, not all zero, got {v!r}")
        object.__setattr__(self, name, w)

    # ------------------------------------------------------------------ (de)serialisation
    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> SyntheticConfig:
        """Build from a mapping (e.g. parsed YAML); unknown keys raise ``ValueError``.

        ``distortion_mix`` may also be given as ``{none: .., plumb_bob: .., equidistant: ..}``.
        """
        data = dict(data or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown SyntheticConfig key(s): {', '.join(unknown)} (known: {sorted(known)})")
        mix = data.get("distortion_mix")
        if isinstance(mix, Mapping):
            bad = sorted(set(mix) - {"none", "plumb_bob", "equidistant"})
            if bad:
                raise ValueError(f"distortion_mix: unknown model(s) {bad}")
            data["distortion_mix"] = tuple(
                float(mix.get(k, 0.0)) for k in ("none", "plumb_bob", "equidistant")
            )
        if "image_sizes" in data:
            try:
                data["image_sizes"] = tuple(tuple(s) for s in data["image_sizes"])
            except TypeError:
                raise ValueError(
                    f"image_sizes: need (width, height) pairs, got {data['image_sizes']!r}"
                ) from None
        for key, value in list(data.items()):
            if isinstance(value, list):
                data[key] = tuple(value)
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: str | Path) -> SyntheticConfig:
        """Read a YAML mapping (the whole file, or its ``synthetic:`` entry) with :meth:`from_dict`."""
        import yaml

        data = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(data, Mapping):
            raise ValueError(f"{path}: expected a mapping of SyntheticConfig keys")
        if set(data) == {"synthetic"}:
            data = data["synthetic"]
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """JSON/YAML-ready dict (tuples as lists); ``from_dict(to_dict())`` gives an equal config."""

        def plain(v: Any) -> Any:
            return [plain(x) for x in v] if isinstance(v, tuple) else v

        out = {f.name: plain(getattr(self, f.name)) for f in dataclasses.fields(self)}
        # the defaults of the options added later (looks, lenses) are left out: folders written before match
        looks = (
            ("hand_look", "tubes"),
            ("backgrounds", "procedural"),
            ("occluders", "boxes"),
            ("grasped_objects", 0.0),
            ("max_arm_occlusion", 1.0),
            ("other_poses", "random"),
            ("finger_fan", 1.0),
            ("max_fov_deg", 180.0),
        )
        for key, default in looks:
            if out[key] == default:
                del out[key]
        return out
