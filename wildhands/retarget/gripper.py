"""Parallel-gripper command from the human hand: thumb–index pinch distance -> gripper opening.

The pinch distance ``d`` (m) is the distance between the thumb tip and the index tip (keypoints 4 and 8).
The *openness* ``u`` in [0, 1] (0 = closed, 1 = open) follows it:

* ``mode='linear'``: ``u = (d - pinch_closed_m) / (pinch_open_m - pinch_closed_m)`` clamped to [0, 1];
* ``mode='binary'``: ``u`` is 0 or 1 with hysteresis around the middle of the two distances: it becomes 0
  when ``d < mid - hysteresis_m / 2`` and 1 when ``d > mid + hysteresis_m / 2``, and keeps its value in
  between (no chatter when the hand hovers at the threshold).

The command is ``closed + u * (open - closed)``, in the controller's unit: metres of jaw opening by default
(e.g. 0 .. 0.085 for a Robotiq 2F-85), or any joint position (``closed > open`` is allowed).

**Grasp gating** (``close_grasps`` non-empty): the gripper may only *close* while the grasp head says the
hand is grasping: the gate is open while the summed probability of the ``close_grasps`` classes (names of
:data:`wildhands.model.grasp.GRASP_CLASSES`) is >= ``min_grasp_probability``, and shuts again only below
``min_grasp_probability - grasp_hysteresis``. While it is shut the openness cannot decrease
(``u = max(u_new, u_prev)``): the gripper can open, but not close. So a hand that flickers out of a grasp
class while holding an object does not drop it, and a pinch in the air with a non-grasp class does not close
the gripper. Without grasp probabilities the gate counts as shut.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from wildhands.handmodel.keypoints import FINGERTIP_KEYPOINTS, NUM_KEYPOINTS
from wildhands.model.grasp import GRASP_CLASS_IDS, GRASP_CLASSES, NUM_GRASP_CLASSES

__all__ = ["GRIPPER_MODES", "GripperCommand", "GripperConfig", "GripperRetargeter", "pinch_distance"]

GRIPPER_MODES = ("linear", "binary")
_THUMB_TIP, _INDEX_TIP = FINGERTIP_KEYPOINTS[0], FINGERTIP_KEYPOINTS[1]

PREHENSILE_GRASPS: tuple[str, ...] = (
    "power_prismatic",
    "precision_prismatic",
    "power_circular",
    "precision_circular",
    "lateral",
)
"""The grasp classes that hold an object (all but the two non-prehensile ones and 'other')."""


def pinch_distance(keypoints_m) -> float:
    """m, distance between the thumb tip (4) and the index tip (8) of (21, 3) keypoints (any metric frame)."""
    kp = np.asarray(keypoints_m, dtype=np.float64)
    if kp.shape != (NUM_KEYPOINTS, 3):
        raise ValueError(f"keypoints must have shape (21, 3), got {kp.shape}")
    d = float(np.linalg.norm(kp[_THUMB_TIP] - kp[_INDEX_TIP]))
    if not math.isfinite(d):
        raise ValueError("keypoints must be finite")
    return d


@dataclass(frozen=True)
class GripperConfig:
    """How the pinch drives the gripper (ValueError naming a bad field); see the module docstring.

    pinch_closed_m: m, pinch distance at and below which the gripper is fully closed (>= 0).
    pinch_open_m: m, pinch distance at and above which it is fully open (> pinch_closed_m).
    closed, open: command values for fully closed / fully open (finite, different).
    mode: 'linear' or 'binary'.
    hysteresis_m: m, width of the binary mode's band around the middle distance (>= 0, < the span).
    close_grasps: grasp class names allowed to close the gripper; empty = no gating.
    min_grasp_probability: in (0, 1], summed probability of close_grasps that opens the gate.
    grasp_hysteresis: in [0, min_grasp_probability), the gate shuts below min_grasp_probability - this.
    """

    pinch_closed_m: float = 0.02
    pinch_open_m: float = 0.08
    closed: float = 0.0
    open: float = 0.085
    mode: str = "linear"
    hysteresis_m: float = 0.01
    close_grasps: tuple[str, ...] = ()
    min_grasp_probability: float = 0.5
    grasp_hysteresis: float = 0.1

    def __post_init__(self) -> None:
        for name in ("pinch_closed_m", "pinch_open_m", "closed", "open", "hysteresis_m",
                     "min_grasp_probability", "grasp_hysteresis"):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"GripperConfig.{name}={value!r} must be a finite number")
            object.__setattr__(self, name, float(value))
        if self.pinch_closed_m < 0 or self.pinch_open_m <= self.pinch_closed_m:
            raise ValueError(
                f"GripperConfig: need 0 <= pinch_closed_m < pinch_open_m, got {self.pinch_closed_m}, "
                f"{self.pinch_open_m}"
            )
        if self.closed == self.open:
            raise ValueError(f"GripperConfig: closed and open must differ, both are {self.open}")
        if self.mode not in GRIPPER_MODES:
            raise ValueError(f"GripperConfig.mode={self.mode!r} not in {GRIPPER_MODES}")
        if not 0 <= self.hysteresis_m < self.pinch_open_m - self.pinch_closed_m:
            raise ValueError(
                f"GripperConfig.hysteresis_m={self.hysteresis_m} not in [0, pinch_open_m - pinch_closed_m)"
            )
        grasps = (self.close_grasps,) if isinstance(self.close_grasps, str) else tuple(self.close_grasps)
        for g in grasps:
            if g not in GRASP_CLASS_IDS:
                raise ValueError(f"GripperConfig.close_grasps: {g!r} not in {{{', '.join(GRASP_CLASSES)}}}")
        object.__setattr__(self, "close_grasps", grasps)
        if not 0 < self.min_grasp_probability <= 1:
            raise ValueError(
                f"GripperConfig.min_grasp_probability={self.min_grasp_probability} not in (0, 1]"
            )
        if not 0 <= self.grasp_hysteresis < self.min_grasp_probability:
            raise ValueError(
                f"GripperConfig.grasp_hysteresis={self.grasp_hysteresis} not in [0, min_grasp_probability)"
            )

    def command(self, openness: float) -> float:
        """Command value for ``openness`` in [0, 1]."""
        return self.closed + float(openness) * (self.open - self.closed)


@dataclass(frozen=True)
class GripperCommand:
    """One gripper output: ``command`` (controller unit), ``openness`` in [0, 1], ``pinch_m`` (m), and
    whether the grasp gate allowed closing (``gate_open``; always True without gating)."""

    command: float
    openness: float
    pinch_m: float
    gate_open: bool


class GripperRetargeter:
    """Stateful (binary hysteresis, grasp gate, last openness); one per tracked hand."""

    def __init__(self, config: GripperConfig | None = None) -> None:
        self.config = config or GripperConfig()
        self._grasp_ids = np.array([GRASP_CLASS_IDS[g] for g in self.config.close_grasps], dtype=int)
        self.reset()

    def reset(self) -> None:
        """Forget the state: open gripper, gate shut, binary state open."""
        self._openness = 1.0
        self._binary = 1.0
        self._gate = False

    def _gate_update(self, grasp_probabilities: Sequence[float] | None) -> bool:
        c = self.config
        if not c.close_grasps:
            return True
        if grasp_probabilities is None:
            self._gate = False
            return False
        p = np.asarray(grasp_probabilities, dtype=np.float64)
        if p.shape != (NUM_GRASP_CLASSES,) or not np.all(np.isfinite(p)):
            raise ValueError(
                f"grasp_probabilities must be {NUM_GRASP_CLASSES} finite values, got shape {p.shape}"
            )
        mass = float(p[self._grasp_ids].sum())
        threshold = c.min_grasp_probability - (c.grasp_hysteresis if self._gate else 0.0)
        self._gate = mass >= threshold
        return self._gate

    def __call__(self, keypoints_m, grasp_probabilities: Sequence[float] | None = None) -> GripperCommand:
        """The command for one hand: keypoints (21, 3) m, grasp probabilities (8,) or None."""
        # (keypoints from any metric frame: only a distance is used)
        c = self.config
        d = pinch_distance(keypoints_m)
        if c.mode == "linear":
            u = min(1.0, max(0.0, (d - c.pinch_closed_m) / (c.pinch_open_m - c.pinch_closed_m)))
        else:
            mid = 0.5 * (c.pinch_closed_m + c.pinch_open_m)
            if d < mid - 0.5 * c.hysteresis_m:
                self._binary = 0.0
            elif d > mid + 0.5 * c.hysteresis_m:
                self._binary = 1.0
            u = self._binary
        gate = self._gate_update(grasp_probabilities)
        if not gate:
            u = max(u, self._openness)  # may open, may not close
        self._openness = u
        return GripperCommand(command=c.command(u), openness=u, pinch_m=d, gate_open=gate)
