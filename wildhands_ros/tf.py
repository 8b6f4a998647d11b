"""TF for hands: one frame per keypoint, ``<prefix>_<side>_<keypoint>``, child of the image's frame.

The wrist frame is oriented by the hand's global rotation (hand-model frame -> optical frame); the other
keypoint frames carry the keypoint position with the identity rotation. All frames of one image go out in
one ``tf2_msgs/TFMessage`` stamped with the image stamp.

:class:`TFPublisher` uses ``tf2_ros.TransformBroadcaster`` where tf2_ros is installed, and otherwise
publishes ``tf2_msgs/TFMessage`` on ``/tf`` itself with the broadcaster's QoS (keep last 100, reliable,
volatile), which real tf2 listeners and RViz receive the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

from geometry_msgs.msg import TransformStamped
from std_msgs.msg import Header

from wildhands.geometry.rotations import matrix_to_quaternion_xyzw
from wildhands.handmodel.keypoints import KEYPOINT_NAMES
from wildhands.runtime.hands import HandEstimate

try:  # a ROS 2 install
    from tf2_ros import TransformBroadcaster
except ImportError:  # pip-installed ROS: publish TFMessage ourselves
    TransformBroadcaster = None

TF_TOPIC = "/tf"
TF_QOS_DEPTH = 100


def frame_name(prefix: str, side: str, keypoint: int) -> str:
    """``hand_right_index_tip`` for prefix 'hand', side 'right', keypoint 8."""
    return f"{prefix}_{side}_{KEYPOINT_NAMES[keypoint]}"


def hand_transforms(
    hands: Sequence[HandEstimate], header: Header, prefix: str = "hand"
) -> list[TransformStamped]:
    """21 TransformStamped per hand, parent = header.frame_id, stamp = header.stamp.

    Two hands of the same side would share frame names: only the first (most confident) is kept.
    """
    out: list[TransformStamped] = []
    seen: set[str] = set()
    for hand in hands:
        if hand.side in seen:
            continue
        seen.add(hand.side)
        q = matrix_to_quaternion_xyzw(hand.wrist_rotation)
        for k, p in enumerate(hand.keypoints_cam_m.tolist()):
            t = TransformStamped()
            t.header.stamp = header.stamp
            t.header.frame_id = header.frame_id
            t.child_frame_id = frame_name(prefix, hand.side, k)
            t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = p
            if k == 0:
                r = t.transform.rotation
                r.x, r.y, r.z, r.w = (float(v) for v in q)
            else:
                t.transform.rotation.w = 1.0
            out.append(t)
    return out


class TFPublisher:
    """Sends a list of transforms as one message on /tf (tf2_ros where installed)."""

    def __init__(self, node) -> None:
        if TransformBroadcaster is not None:
            self._broadcaster = TransformBroadcaster(node, qos=TF_QOS_DEPTH)
            self._publisher = None
            self.backend = "tf2_ros"
        else:
            from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
            from tf2_msgs.msg import TFMessage

            qos = QoSProfile(
                history=HistoryPolicy.KEEP_LAST,
                depth=TF_QOS_DEPTH,
                reliability=ReliabilityPolicy.RELIABLE,
                durability=DurabilityPolicy.VOLATILE,
            )
            self._broadcaster = None
            self._msg_type = TFMessage
            self._publisher = node.create_publisher(TFMessage, TF_TOPIC, qos)
            self.backend = "tf2_msgs"

    def send(self, transforms: list[TransformStamped]) -> None:
        if not transforms:
            return
        if self._broadcaster is not None:
            self._broadcaster.sendTransform(transforms)
        else:
            self._publisher.publish(self._msg_type(transforms=transforms))
