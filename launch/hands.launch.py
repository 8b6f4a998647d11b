"""Start wildhands_node with config/hands.yaml; optionally RViz with config/hands.rviz, and retarget_node
(teleoperation: gripper, wrist pose, hand joint targets) with config/retarget.yaml.

    ros2 launch wildhands_ros hands.launch.py image:=/camera/color/image_raw \
        camera_info:=/camera/color/camera_info engine:=onnxruntime rviz:=true
    ros2 launch wildhands_ros hands.launch.py retarget:=true robot_frame:=base_link retarget_side:=right

Node-parameter arguments (engine, weights, device, ...; retarget_side, robot_frame, urdf) default to empty,
which means the params file's value: without them the nodes run exactly as params_file and
retarget_params_file say (config/hands.yaml: the shipped weights on onnxruntime). An argument replaces a
parameter only when it is given.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

# launch argument -> (node parameter, type); an argument left empty keeps the params file's value
NODE_ARGUMENTS = {
    "estimator": ("estimator", str),
    "engine": ("engine", str),
    "weights": ("weights", str),
    "device": ("device", str),
    "crop_mode": ("crop_mode", str),
    "detector": ("detector", str),
    "camera_info_policy": ("camera_info_policy", str),
    "publish_debug_image": ("publish_debug_image", bool),
    "tracking": ("tracking", bool),
    "smoothing": ("smoothing", bool),
}
RETARGET_ARGUMENTS = {
    "retarget_side": ("side", str),
    "robot_frame": ("robot_frame", str),
    "urdf": ("urdf", str),
}


def _parse_bool(argument, text):
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    raise ValueError(
        f"launch argument {argument}:={text!r} must be true or false (or empty = the params file's value)"
    )


def _parameters(context, params_file_argument, arguments):
    """[params file, {parameter: value} of the arguments given (non-empty)]; later entries win."""
    overrides = {}
    for argument, (parameter, kind) in arguments.items():
        text = context.launch_configurations.get(argument, "")
        if text == "":
            continue  # not given: the params file's value stays
        # strings stay strings (value_type=str: `weights:=1` is no integer); booleans strictly true/false
        overrides[parameter] = (
            _parse_bool(argument, text) if kind is bool else ParameterValue(text, value_type=str)
        )
    params_file = context.launch_configurations[params_file_argument]
    return [params_file, overrides] if overrides else [params_file]


def _nodes(context):
    """wildhands_node and (retarget:=true) retarget_node, built once the launch arguments are known."""
    node = Node(
        package="wildhands_ros",
        executable="wildhands_node",
        name="wildhands_node",
        namespace=LaunchConfiguration("namespace"),
        parameters=_parameters(context, "params_file", NODE_ARGUMENTS),
        remappings=[
            ("image", LaunchConfiguration("image")),
            ("camera_info", LaunchConfiguration("camera_info")),
            ("hand_boxes", LaunchConfiguration("hand_boxes")),
        ],
        output="screen",
        emulate_tty=True,
    )
    retarget = Node(
        package="wildhands_ros",
        executable="wildhands_retarget_node",
        name="retarget_node",
        namespace=LaunchConfiguration("namespace"),
        parameters=_parameters(context, "retarget_params_file", RETARGET_ARGUMENTS),
        condition=IfCondition(LaunchConfiguration("retarget")),
        output="screen",
        emulate_tty=True,
    )
    return [node, retarget]


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
            "estimator",
            default_value="",
            description="landmarks (landmark-lifting model + refinement) or image (the image model with "
            "weights); empty = the params file's value",
        ),
        DeclareLaunchArgument(
            "engine",
            default_value="",
            description="inference engine: onnxruntime, torch or tensorrt; empty = the params file's value",
        ),
        DeclareLaunchArgument(
            "weights",
            default_value="",
            description="default (the shipped weights), a manifest name, a checkpoint path, or untrained "
            "(an UNTRAINED network); empty = the params file's value",
        ),
        DeclareLaunchArgument(
            "device",
            default_value="",
            description="torch device: cpu, cuda, cuda:0; empty = the params file's value",
        ),
        DeclareLaunchArgument(
            "crop_mode",
            default_value="",
            description="hand crops: box, rectified (virtual pinhole view of the hand), auto (fisheye only); "
            "empty = the params file's value",
        ),
        DeclareLaunchArgument(
            "detector",
            default_value="",
            description="hand detector: mediapipe or none (hand_boxes only); empty = the params file's value",
        ),
        DeclareLaunchArgument(
            "camera_info_policy",
            default_value="",
            description="without valid CameraInfo: skip or estimate; empty = the params file's value",
        ),
        DeclareLaunchArgument(
            "publish_debug_image",
            default_value="",
            description="publish the overlay on hands/debug_image: true or false; empty = the params file's "
            "value",
        ),
        DeclareLaunchArgument(
            "tracking",
            default_value="",
            description="stable track ids across frames (Hand.track_id): true or false; empty = the params "
            "file's value",
        ),
        DeclareLaunchArgument(
            "smoothing",
            default_value="",
            description="One-Euro smoothing of keypoints and wrist pose: true or false; empty = the params "
            "file's value",
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
            default_value="",
            description="retarget_node: which human hand, right or left; empty = the retarget params file's "
            "value",
        ),
        DeclareLaunchArgument(
            "robot_frame",
            default_value="",
            description="retarget_node: frame of the wrist pose (via TF); empty = the retarget params file's "
            "value (config/retarget.yaml: '' = the camera frame)",
        ),
        DeclareLaunchArgument(
            "urdf",
            default_value="",
            description="retarget_node: robot hand URDF; empty = the retarget params file's value "
            "(config/retarget.yaml: '' = the bundled example hand)",
        ),
    ]
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        name="rviz2",
        arguments=["-d", os.path.join(share, "config", "hands.rviz")],
        condition=IfCondition(LaunchConfiguration("rviz")),
        output="screen",
    )
    return LaunchDescription([*arguments, OpaqueFunction(function=_nodes), rviz])
