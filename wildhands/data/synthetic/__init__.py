"""Synthetic egocentric hand data: the default training and evaluation data of wildhands (design section 6).

``generate_frame(config, seed, index)`` renders the open hand model into a procedural scene seen by a
random camera (fx 200-1500 px, plumb_bob or fisheye distortion), with grasp-labelled poses, occluders and
camera degradations, and returns ``HandRecord`` labels (keypoints 3D/2D, visible masks, boxes, grasp, hand
model parameters). ``write_dataset``/``SyntheticDataset`` store and read such sets on disk;
``SyntheticHandStream`` generates them on the fly for training. Modules: ``config`` (``SyntheticConfig``),
``poses`` (grasp templates, joint limits, orientations), ``scene`` (cameras, backgrounds, skin, effects),
``generator`` (one frame), ``io`` (datasets and the on-disk format), ``backends`` + ``scene_torch`` (where
the image work runs: ``SyntheticConfig.device``).

Rendering runs with numpy/OpenCV on the CPU by default (``device='cpu'``); ``'torch-cpu'`` and
``'cuda[:N]'`` run the image-sized steps in torch on that device, with the same labels. No GPU is needed.
"""

from wildhands.data.synthetic.config import SyntheticConfig
from wildhands.data.synthetic.generator import GENERATOR_VERSION, SyntheticFrame, generate_frame
from wildhands.data.synthetic.io import (
    SyntheticDataset,
    SyntheticHandStream,
    collate_records,
    complete_frames,
    frame_to_json,
    write_dataset,
)

__all__ = [
    "GENERATOR_VERSION",
    "SyntheticConfig",
    "SyntheticDataset",
    "SyntheticFrame",
    "SyntheticHandStream",
    "collate_records",
    "complete_frames",
    "frame_to_json",
    "generate_frame",
    "write_dataset",
]
