"""wildhands: metric 3D hand pose from egocentric images (WildHands, ECCV 2024), pure PyTorch.

No ROS import anywhere in this package (``test/test_layering.py`` enforces it). The ROS 2 adapter lives in
``wildhands_ros``.

Conventions (REP-103): metres, radians, right-handed; camera optical frame x right, y down, z forward.
"""

__version__ = "0.1.0"
