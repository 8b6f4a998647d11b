"""Start wildhands_node with config/hands.yaml; optionally RViz with config/hands.rviz, and retarget_node
(teleoperation: gripper, wrist pose, hand joint targets) with config/retarget.yaml.

    ros2 launch wildhands_ros hands.launch.py image:=/camera/color/image_raw \
        camera_info:=/camera/color/camera_info engine:=onnxruntime rviz:=true
    ros2 launch wildhands_ros hands.launch.py retarget:=true robot_frame:=base_link retarget_side:=right
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue


def generate_launch_description():
    share = get_package_share_directory("wildhands_ros")
    arguments = [
        DeclareLaunchArgument(
            "params_file",
            default_value=os.path.join(share, "config", "hands.yaml"),
            description="YAML file with the node's parameters",
        ),
        DeclareLaunchArgument(
            "namespace", default_value="", description="namespace of the node and its topics"
        ),
        DeclareLaunchArgument("image", default_value="image", description="input sensor_msgs/Image topic"),
        DeclareLaunchArgument(
            "camera_info", default_value="camera_info", description="input sensor_msgs/CameraInfo topic"
        ),
        DeclareLaunchArgument(
            "hand_boxes", default_value="hand_boxes", description="optional input HandDetectionArray topic"
        ),
        DeclareLaunchArgument(
            "engine", default_value="torch", description="inference engine: torch or onnxruntime"
        ),
        DeclareLaunchArgument(
            "weights", default_value="", description="WildHands checkpoint; empty = untrained network"
        ),
        DeclareLaunchArgument("device", default_value="cpu", description="torch device: cpu, cuda, cuda:0"),
        DeclareLaunchArgument(
            "crop_mode",
            default_value="auto",
            description="hand crops: box, rectified (virtual pinhole view of the hand), auto (fisheye only)",
        ),
        DeclareLaunchArgument(
            "detector",
            default_value="mediapipe",
            description="hand detector: mediapipe or none (hand_boxes only)",
        ),
        DeclareLaunchArgument(
            "camera_info_policy",
            default_value="skip",
            description="without valid CameraInfo: skip or estimate",
        ),
        DeclareLaunchArgument(
            "publish_debug_image",
            default_value="false",
            description="publish the overlay on hands/debug_image",
        ),
        DeclareLaunchArgument(
            "tracking", default_value="true", description="stable track ids across frames (Hand.track_id)"
        ),
        DeclareLaunchArgument(
            "smoothing", default_value="true", description="One-Euro smoothing of keypoints and wrist pose"
        ),
        DeclareLaunchArgument("rviz", default_value="false", description="start RViz with config/hands.rviz"),
        DeclareLaunchArgument(
            "retarget",
            default_value="false",
            description="start retarget_node (gripper command, wrist pose, hand joint targets)",
        ),
        DeclareLaunchArgument(
            "retarget_params_file",
            default_value=os.path.join(share, "config", "retarget.yaml"),
            description="YAML file with retarget_node's parameters",
        ),
        DeclareLaunchArgument(
            "retarget_side",
            default_value="right",
            description="retarget_node: which human hand, right or left",
        ),
        DeclareLaunchArgument(
            "robot_frame",
            default_value="",
            description="retarget_node: frame of the wrist pose (via TF); empty = the camera frame",
        ),
        DeclareLaunchArgument(
            "urdf",
            default_value="",
            description="retarget_node: robot hand URDF; empty = the bundled example",
        ),
    ]
    # strings stay strings (an empty `weights` would otherwise be parsed as YAML null); booleans are parsed
    overrides = {
        name: ParameterValue(LaunchConfiguration(name), value_type=str)
        for name in ("engine", "weights", "device", "crop_mode", "detector", "camera_info_policy")
    }
    overrides.update(
        {
            name: ParameterValue(LaunchConfiguration(name), value_type=bool)
            for name in ("publish_debug_image", "tracking", "smoothing")
        }
    )
    node = Node(
        package="wildhands_ros",
        executable="wildhands_node",
        name="wildhands_node",
        namespace=LaunchConfiguration("namespace"),
        parameters=[LaunchConfiguration("params_file"), overrides],
        remappings=[
            ("image", LaunchConfiguration("image")),
            ("camera_info", LaunchConfiguration("camera_info")),
            ("hand_boxes", LaunchConfiguration("hand_boxes")),
        ],
        output="screen",
        emulate_tty=True,
    )
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        name="rviz2",
        arguments=["-d", os.path.join(share, "config", "hands.rviz")],
        condition=IfCondition(LaunchConfiguration("rviz")),
        output="screen",
    )
    retarget = Node(
        package="wildhands_ros",
        executable="wildhands_retarget_node",
        name="retarget_node",
        namespace=LaunchConfiguration("namespace"),
        parameters=[
            LaunchConfiguration("retarget_params_file"),
            {
                "side": ParameterValue(LaunchConfiguration("retarget_side"), value_type=str),
                "robot_frame": ParameterValue(LaunchConfiguration("robot_frame"), value_type=str),
                "urdf": ParameterValue(LaunchConfiguration("urdf"), value_type=str),
            },
        ],
        condition=IfCondition(LaunchConfiguration("retarget")),
        output="screen",
        emulate_tty=True,
    )
    return LaunchDescription([*arguments, node, rviz, retarget])
