"""What building and publishing the node's messages costs, and the alternatives measured before choosing.

On the bundled sample's hands (1 and 2; untrained resnet18 @128: the geometry is real, the poses are not;
a hand mesh marker is a TRIANGLE_LIST of 3 x 2224 = 6672 points), per frame, median of ``--repeats``:

* **points**: one hand mesh's 6672 points as ``geometry_msgs/Point`` objects, four ways: the message
  constructor (``Point(x=, y=, z=)``), the constructor with ``check_fields=False``, ``Point.__new__`` +
  the private slots (``_x``...), and rclpy's C deserializer reading them from CDR bytes; beside them, what
  ``publish`` then spends converting the objects back to C (``serialize_message``) and what writing the
  same points straight from numpy into CDR bytes costs (``wildhands_ros.cdr``).
* **messages**: each message of a frame (markers, HandArray with and without the mesh, TF, point cloud)
  built as objects, built + serialized (what ``publish`` of an object adds), and as CDR bytes (the node's
  path where ``cdr.matches_rmw()``).
* **image**: the incoming 640x480 ``sensor_msgs/Image`` (bgr8, rgb8) to RGB, as the node does it
  (OpenCV) and with numpy channel indexing (the earlier way).
* **publish**: ``Publisher.publish`` of the markers on a real rclpy publisher with one subscriber in this
  process (loopback DDS), object vs bytes, build included.

    python bench/ros_messages.py --out bench/results/ros_messages.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

from machine import OtherLoad, keep_ros_on_loopback, machine_facts  # noqa: E402

keep_ros_on_loopback("bench-messages")

import numpy as np  # noqa: E402


def _median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def _sample_hands():
    from wildhands.geometry.camera_yaml import load_camera_yaml
    from wildhands.model.config import ModelConfig
    from wildhands.runtime.io import SAMPLE_DIR, load_hand_boxes, load_image_rgb
    from wildhands.runtime.pipeline import Pipeline, PipelineConfig

    boxes, _ = load_hand_boxes(SAMPLE_DIR / "hands.json")
    image, camera = (
        load_image_rgb(SAMPLE_DIR / "image.png"),
        load_camera_yaml(SAMPLE_DIR / "camera_info.yaml"),
    )
    config = PipelineConfig(
        model=ModelConfig(backbone="resnet18", image_size=128),
        engine="onnxruntime",
        seed=0,
        estimator="image",
    )
    return Pipeline(config)(image, camera, boxes)


def bench_points(xyz: np.ndarray, repeats: int) -> dict[str, float]:
    """ms for one (N, 3) point list, each way."""
    from geometry_msgs.msg import Point
    from rclpy.serialization import deserialize_message, serialize_message
    from visualization_msgs.msg import Marker

    from wildhands_ros import cdr

    def constructor():
        return [Point(x=x, y=y, z=z) for x, y, z in xyz.tolist()]

    def constructor_unchecked():
        return [Point(x=x, y=y, z=z, check_fields=False) for x, y, z in xyz.tolist()]

    def new_and_slots():
        out, new = [], Point.__new__
        for x, y, z in xyz.tolist():
            p = new(Point)
            p._x, p._y, p._z, p._check_fields = x, y, z, False
            out.append(p)
        return out

    marker = Marker(type=Marker.TRIANGLE_LIST)
    data = cdr.serialize(marker, [(marker, "points", xyz)])
    full = Marker(type=Marker.TRIANGLE_LIST, points=constructor())
    return {
        "n_points": len(xyz),
        "objects_constructor_ms": _median_ms(constructor, repeats),
        "objects_constructor_check_fields_false_ms": _median_ms(constructor_unchecked, repeats),
        "objects_new_and_private_slots_ms": _median_ms(new_and_slots, repeats),
        "objects_from_cdr_by_rclpy_deserializer_ms": _median_ms(
            lambda: deserialize_message(data, Marker), repeats
        ),
        "serialize_objects_as_publish_does_ms": _median_ms(lambda: serialize_message(full), repeats),
        "cdr_from_numpy_ms": _median_ms(lambda: cdr.serialize(marker, [(marker, "points", xyz)]), repeats),
    }


def bench_messages(hands, repeats: int) -> dict[str, dict[str, float]]:
    from rclpy.serialization import serialize_message
    from std_msgs.msg import Header

    from wildhands_ros.conversions import hands_to_cdr, hands_to_cloud, hands_to_msg
    from wildhands_ros.markers import hand_markers, hand_markers_cdr
    from wildhands_ros.tf import hand_transforms

    header = Header(frame_id="camera_color_optical_frame")
    ids = list(range(len(hands)))
    kinds = {
        "markers": (lambda: hand_markers(hands, header), lambda: hand_markers_cdr(hands, header)),
        "hand_array": (
            lambda: hands_to_msg(hands, header, 0.0, False, ids),
            lambda: hands_to_cdr(hands, header, 0.0, False, ids),
        ),  # fmt: skip
        "hand_array_with_mesh": (
            lambda: hands_to_msg(hands, header, 0.0, True, ids),
            lambda: hands_to_cdr(hands, header, 0.0, True, ids),
        ),  # fmt: skip
        "cloud": (lambda: hands_to_cloud(hands, header), None),
    }
    out = {}
    for name, (objects, lean) in kinds.items():
        row = {
            "objects_ms": _median_ms(objects, repeats),
            "objects_and_serialize_ms": _median_ms(lambda f=objects: serialize_message(f()), repeats),
        }
        if lean is not None:
            row["cdr_ms"] = _median_ms(lean, repeats)
        out[name] = row
    tf = lambda: hand_transforms(hands, header)  # noqa: E731
    out["tf"] = {"objects_ms": _median_ms(tf, repeats)}
    return out


def bench_image(repeats: int) -> dict[str, float]:
    """ms to turn the sample as a 640x480 Image message into RGB."""
    from wildhands.runtime.io import SAMPLE_DIR, load_image_rgb
    from wildhands_ros.conversions import image_to_rgb, rgb_to_image

    rgb = load_image_rgb(SAMPLE_DIR / "image.png")
    out = {}
    for encoding, order in (("bgr8", [2, 1, 0]), ("rgb8", [0, 1, 2])):
        msg = rgb_to_image(rgb, None, encoding)
        pixels = np.frombuffer(msg.data, np.uint8).reshape(rgb.shape)
        out[f"{encoding}_node_ms"] = _median_ms(lambda m=msg: image_to_rgb(m), repeats)
        out[f"{encoding}_numpy_indexing_ms"] = _median_ms(
            lambda p=pixels, o=order: np.ascontiguousarray(p[:, :, o]), repeats
        )
    return out


def bench_publish(hands, repeats: int) -> dict[str, float]:
    """ms of build + ``publish`` of the markers with one subscriber (this process, loopback DDS)."""
    import rclpy
    from std_msgs.msg import Header
    from visualization_msgs.msg import MarkerArray

    from wildhands_ros.markers import hand_markers, hand_markers_cdr

    rclpy.init()
    try:
        node = rclpy.create_node("bench_ros_messages")
        pub = node.create_publisher(MarkerArray, "bench/markers", 10)
        node.create_subscription(MarkerArray, "bench/markers", lambda _: None, 10)
        end = time.monotonic() + 10
        while pub.get_subscription_count() == 0 and time.monotonic() < end:
            time.sleep(0.05)
        header = Header(frame_id="camera_color_optical_frame")
        out = {
            "subscribers": pub.get_subscription_count(),
            "objects_ms": _median_ms(lambda: pub.publish(hand_markers(hands, header)), repeats),
            "cdr_ms": _median_ms(lambda: pub.publish(hand_markers_cdr(hands, header)), repeats),
        }
        node.destroy_node()
        return out
    finally:
        rclpy.try_shutdown()


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "ros_messages.json")
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error("--repeats >= 1")
    from wildhands_ros import cdr

    hands = _sample_hands()
    mesh = hands[0].vertices_cam_m[hands[0].faces.reshape(-1)]
    result: dict = {
        "date": datetime.date.today().isoformat(),
        "machine": machine_facts(),
        "repeats": args.repeats,
        "cdr_matches_rmw": cdr.matches_rmw()[0],
    }
    with OtherLoad() as load:
        result["points_one_hand_mesh"] = bench_points(mesh, args.repeats)
        result["messages"] = {str(n): bench_messages(hands[:n], args.repeats) for n in (1, 2)}
        result["image_to_rgb_640x480"] = bench_image(args.repeats)
        result["publish_markers_2_hands"] = bench_publish(hands[:2], args.repeats)
    result["other_processes_cores"] = load.other_cores
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
