"""Eager PyTorch engine (CPU or CUDA): the reference every other engine is compared with."""

from __future__ import annotations

import numpy as np
import torch

from wildhands.model.network import WildHandsNet
from wildhands.runtime.engines.base import EngineOutput, check_inputs


class TorchEngine:
    """Runs :class:`WildHandsNet` in eval mode under ``torch.inference_mode``."""

    name = "torch"

    def __init__(self, model: WildHandsNet, device: str = "cpu") -> None:
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device={device!r} but CUDA is not available; use device='cpu'")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.config = model.config

    @torch.inference_mode()
    def infer(self, images: np.ndarray, kpe: np.ndarray) -> EngineOutput:
        check_inputs(images, kpe, self.config.image_size, self.config.kpe.num_points)
        images_t = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).to(self.device)
        kpe_t = torch.from_numpy(np.ascontiguousarray(kpe, dtype=np.float32)).to(self.device)
        outputs = self.model.forward_tensors(images_t, kpe_t)
        return EngineOutput.from_sequence(t.float().cpu().numpy() for t in outputs)
