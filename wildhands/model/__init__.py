"""The WildHands network: torchvision-layout ResNet, KPE, iterative regressor, grasp head; config, I/O, ONNX.

``export_onnx`` lives in :mod:`wildhands.model.export` (imports ``onnx`` lazily).
"""

from wildhands.model.checkpoint import average_checkpoints, load_model, read_checkpoint, save_checkpoint
from wildhands.model.config import KPEConfig, KPEVariant, ModelConfig
from wildhands.model.grasp import GRASP_CLASS_IDS, GRASP_CLASSES, NUM_GRASP_CLASSES, grasp_class_name
from wildhands.model.heads import GraspHead
from wildhands.model.kpe import KPEEncoder, KPEFusion, OfficialFusion, sinusoidal_encoding
from wildhands.model.network import INPUT_NAMES, OUTPUT_NAMES, WildHandsNet, WildHandsOutput, input_names
from wildhands.model.preprocess import IMAGENET_MEAN, IMAGENET_STD, preprocess_crops
from wildhands.model.regressor import IterativeRegressor, RegressorOutput
from wildhands.model.resnet import ResNet, load_torchvision_state_dict, resnet_trunk

__all__ = [
    "GRASP_CLASSES",
    "GRASP_CLASS_IDS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "INPUT_NAMES",
    "NUM_GRASP_CLASSES",
    "OUTPUT_NAMES",
    "GraspHead",
    "IterativeRegressor",
    "KPEConfig",
    "KPEEncoder",
    "KPEFusion",
    "KPEVariant",
    "ModelConfig",
    "OfficialFusion",
    "RegressorOutput",
    "ResNet",
    "WildHandsNet",
    "WildHandsOutput",
    "average_checkpoints",
    "grasp_class_name",
    "input_names",
    "load_model",
    "load_torchvision_state_dict",
    "preprocess_crops",
    "read_checkpoint",
    "resnet_trunk",
    "save_checkpoint",
    "sinusoidal_encoding",
]
