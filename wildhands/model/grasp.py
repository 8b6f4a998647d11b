"""The 8 grasp classes of the WildHands grasp head.

Source: WildHands (arXiv 2312.06583) supervises an 8-way grasp classifier with the grasp labels that
Cheng, Shan & Fouhey annotated on Ego4D/EPIC frames in "Towards A Richer 2D Understanding of Hands at
Scale" (Hands23, NeurIPS 2023). Hands23's grasp taxonomy is a coarsening of Feix et al.'s GRASP taxonomy
into: non-prehensile palm, non-prehensile fingers, power prismatic, precision prismatic, power circular,
precision circular, lateral, extension (plus an "other" bucket that is not a grasp class). The names below
are our spelling of those 8 classes, in that order. The paper text available here could not confirm the
exact order used by the official checkpoint: a loader for it must map class ids by name, not by index.
"""

from __future__ import annotations

#: Class id -> name. Stable: ids are published in messages (``Hand.msg`` constants) and stored in datasets.
GRASP_CLASSES: tuple[str, ...] = (
    "non_prehensile_palm",  # NP-Palm: pushing/holding with an open palm, no grip
    "non_prehensile_fingers",  # NP-Fin: touching/pressing with fingertips, no grip
    "power_prismatic",  # Pow-Pris: whole-hand wrap around a long thin object (handle, bottle)
    "precision_prismatic",  # Pre-Pris: fingertips opposed to thumb along a line (pen, small stick)
    "power_circular",  # Pow-Circ: whole-hand wrap around a sphere/disc (ball, jar lid)
    "precision_circular",  # Pre-Circ: fingertips around a circular object (cap, small ball)
    "lateral",  # Lat: thumb pad against the side of the index (key grip)
    "extension",  # Exten: flat object held between extended thumb and fingers (plate, book)
)

NUM_GRASP_CLASSES = len(GRASP_CLASSES)

#: Name -> class id.
GRASP_CLASS_IDS: dict[str, int] = {name: i for i, name in enumerate(GRASP_CLASSES)}


def grasp_class_name(class_id: int) -> str:
    """Name of grasp class ``class_id`` (0..7); ``ValueError`` outside that range."""
    if isinstance(class_id, bool) or not isinstance(class_id, int) or not 0 <= class_id < NUM_GRASP_CLASSES:
        raise ValueError(f"class_id={class_id!r} not in [0, {NUM_GRASP_CLASSES - 1}]")
    return GRASP_CLASSES[class_id]
