"""Former home of the image IO (kept as an alias for code outside this repository; use :mod:`.io`).

Image IO, hand-box files, the bundled sample and the field-of-view default live in
:mod:`wildhands.runtime.io`; the demo itself (one image, and the main job on a sequence) is the
application :mod:`wildhands.apps.demo`, which the library never imports.
"""

from __future__ import annotations

from wildhands.runtime.io import DEFAULT_HFOV_RAD, SAMPLE_DIR, hands_to_json, load_hand_boxes, load_image_rgb

__all__ = ["DEFAULT_HFOV_RAD", "SAMPLE_DIR", "hands_to_json", "load_hand_boxes", "load_image_rgb"]
