"""The 8 grasp classes of the WildHands grasp head.

Source: the WildHands code (github.com/ap229997/hands, ``src/datasets/epic_grasp_dataset.py``) maps the
EPIC-Kitchens/Ego4D grasp labels to class ids as ``NP-Palm: 0, NP-Fin: 1, Pow-Pris: 2, Pre-Pris: 3,
Pow-Circ: 4, Pre-Circ: 5, Later: 6, Other: 7``. Those labels come from the Hands23 annotations (Cheng,
Shan & Fouhey, "Towards A Richer 2D Understanding of Hands at Scale", NeurIPS 2023), a coarsening of
Feix et al.'s GRASP taxonomy. We keep that order, so ids agree with the official checkpoint's grasp head,
and spell the names out.
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
    "lateral",  # Later: thumb pad against the side of the index (key grip)
    "other",  # Other: any other hand-object contact
)

NUM_GRASP_CLASSES = len(GRASP_CLASSES)

#: Name -> class id.
GRASP_CLASS_IDS: dict[str, int] = {name: i for i, name in enumerate(GRASP_CLASSES)}


def grasp_class_name(class_id: int) -> str:
    """Name of grasp class ``class_id`` (0..7); ``ValueError`` outside that range."""
    if isinstance(class_id, bool) or not isinstance(class_id, int) or not 0 <= class_id < NUM_GRASP_CLASSES:
        raise ValueError(f"class_id={class_id!r} not in [0, {NUM_GRASP_CLASSES - 1}]")
    return GRASP_CLASSES[class_id]
