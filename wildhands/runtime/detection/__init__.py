"""Hand detectors behind one interface (:class:`~wildhands.runtime.detection.base.HandDetector`).

``build_detector('mediapipe')`` is the default offline detector (MediaPipe's palm + hand-landmark models in
LiteRT; ``scripts/fetch_detector_models.py`` puts the models in the cache). ``build_detector('none')``
finds nothing: for a node fed with boxes from an upstream detector. Heavy imports (LiteRT, OpenCV) happen
only when a detector is built.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wildhands.runtime.detection.base import HandDetector
from wildhands.runtime.hands import HandBox

DETECTORS = ("mediapipe", "none")

__all__ = ["DETECTORS", "HandDetector", "NullDetector", "build_detector"]


class NullDetector:
    """A detector that never finds a hand (boxes come from elsewhere)."""

    name = "none"

    def detect(self, image_rgb: np.ndarray, camera: Any = None) -> list[HandBox]:
        """Always ``[]`` (``camera`` ignored)."""
        return []


def build_detector(name: str, **kwargs: Any) -> HandDetector:
    """The detector called ``name`` (one of :data:`DETECTORS`), built with ``kwargs``.

    'mediapipe': :class:`~wildhands.runtime.detection.mediapipe_palm.MediaPipeHandDetector` (kwargs:
    model_dir, score_threshold, nms_iou, max_hands, presence_threshold, box_margin, mirrored_input,
    flip_palms, threads, landmark_engine, device). 'none': :class:`NullDetector` (no kwargs).
    Raises ValueError for an unknown name or unexpected kwargs, and
    :class:`~wildhands.runtime.detection.models.DetectorModelsMissing` when the model files are absent.
    """
    if name == "mediapipe":
        from wildhands.runtime.detection.mediapipe_palm import MediaPipeHandDetector

        try:
            return MediaPipeHandDetector(**kwargs)
        except TypeError as exc:
            raise ValueError(f"bad arguments for detector 'mediapipe': {exc}") from exc
    if name == "none":
        if kwargs:
            raise ValueError(f"detector 'none' takes no arguments, got {sorted(kwargs)}")
        return NullDetector()
    raise ValueError(f"detector={name!r} not in {{{', '.join(DETECTORS)}}}")
