"""pip packaging of wildhands (core, no ROS) and wildhands_ros (the ROS 2 adapter).

`pip install .` gives the `wildhands` library and CLI without any ROS dependency; `wildhands_ros` is
included but needs a ROS 2 environment (rclpy + the built interfaces) to import. On a ROS 2 install,
colcon builds this package with CMakeLists.txt (ament_cmake) instead of this file.
"""

from setuptools import find_packages, setup

setup(
    name="wildhands_ros",
    version="0.1.0",
    description="Metric 3D hands from egocentric cameras: the WildHands network and a ROS 2 node",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["wildhands", "wildhands.*", "wildhands_ros", "wildhands_ros.*"]),
    package_data={"wildhands": ["assets/*", "assets/**/*"]},
    install_requires=[
        "torch>=2.1",
        "numpy>=1.24",
        "scipy>=1.10",
        "opencv-python-headless>=4.8",
        "pyyaml>=6",
        "tqdm>=4.60",
        "threadpoolctl>=3.1",
        "matplotlib>=3.7",
    ],
    extras_require={
        "onnx": ["onnx>=1.15", "onnxruntime>=1.17"],
        "mano": ["smplx>=0.1.28"],
        "rotations": ["roma>=1.4"],
    },
    entry_points={
        "console_scripts": [
            "wildhands = wildhands.cli:main",
            # light entry points: SIGINT/SIGTERM while torch & co. are still importing end quietly
            "wildhands_node = wildhands_ros.entry:wildhands_node",
            "wildhands_retarget_node = wildhands_ros.entry:wildhands_retarget_node",
        ],
        # `wildhands demo` runs the node over real ROS 2 topics through this backend when it loads
        "wildhands.demo_backends": ["ros = wildhands_ros.demo:run_ros_backend"],
    },
)
