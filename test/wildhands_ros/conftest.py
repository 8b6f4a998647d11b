"""Fixtures for the ROS adapter tests: loopback-only DDS, the bundled sample, one in-process node.

The environment is set before rclpy is imported: DDS discovery stays on loopback
(ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST), a private ROS_DOMAIN_ID, logs in a temporary directory.
"""

from __future__ import annotations

import importlib.util
import os
import random
import tempfile

from wildhands_ros.loopback import keep_on_loopback  # noqa: E402  (imports nothing of ROS)

keep_on_loopback()
os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(101, 200)))
os.environ.setdefault("ROS_LOG_DIR", tempfile.mkdtemp(prefix="wildhands-roslog-"))

import pytest  # noqa: E402

HAVE_ROS = (
    importlib.util.find_spec("rclpy") is not None
    and importlib.util.find_spec("wildhands_ros.msg") is not None
)
if not HAVE_ROS:  # the modules import rclpy at the top; the `ros` marker explains the skip elsewhere
    collect_ignore_glob = ["test_*.py"]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.ros)


@pytest.fixture(scope="session")
def sample():
    """The bundled sample: RGB image, its CameraModel and the 2 hand boxes."""
    from wildhands.geometry.camera_yaml import load_camera_yaml
    from wildhands.runtime.io import SAMPLE_DIR, load_hand_boxes, load_image_rgb

    boxes, _ = load_hand_boxes(SAMPLE_DIR / "hands.json")
    return load_image_rgb(SAMPLE_DIR / "image.png"), load_camera_yaml(SAMPLE_DIR / "camera_info.yaml"), boxes


@pytest.fixture(scope="session")
def sample_hands(sample):
    """HandEstimates of the sample from a small untrained pipeline (resnet18): geometry is valid."""
    from wildhands.model.config import ModelConfig
    from wildhands.runtime.pipeline import Pipeline, PipelineConfig

    image, camera, boxes = sample
    return Pipeline(PipelineConfig(estimator="image", model=ModelConfig(backbone="resnet18")))(
        image, camera, boxes
    )


@pytest.fixture(scope="session")
def ros_context():
    import rclpy

    rclpy.init()
    yield
    rclpy.try_shutdown()


@pytest.fixture(scope="session")
def harness(ros_context, sample):
    """One in-process wildhands_node (resnet18, detector none) + a tester node, spun in a thread."""
    from ros_harness import Harness

    h = Harness(sample, namespace="/session_harness")  # own namespace: see Harness
    yield h
    h.close()


@pytest.fixture()
def h(harness):
    """The shared harness with its log throttle reset; camera_info parameters restored afterwards."""
    from rclpy.parameter import Parameter

    harness.node.throttle.reset()
    yield harness
    harness.node.set_parameters(
        [Parameter("camera_info_policy", value="skip"), Parameter("camera_info_timeout", value=1.0)]
    )
