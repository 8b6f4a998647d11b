"""Eager PyTorch engine (CPU or CUDA): the reference every other engine is compared with.

On CUDA the network runs in ``channels_last`` memory format (what cuDNN's fastest convolutions use), and with
``precision='fp16'`` as :func:`wildhands.model.export.mixed_precision_copy` (ResNet trunk and KPE fusion in
fp16, the KPE encoding, regressor and heads in fp32). On the CPU only fp32 is offered (fp16 convolutions are
many times slower there).
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from wildhands.model.network import WildHandsNet
from wildhands.runtime.engines.base import EngineOutput, check_inputs

TORCH_PRECISIONS = ("fp32", "fp16")


class TorchEngine:
    """Runs :class:`WildHandsNet` in eval mode under ``torch.inference_mode``.

    device: 'cpu', 'cuda', 'cuda:1', ...; precision: 'fp32', or 'fp16' (CUDA only). On the CPU the engine
    runs the caller's model itself; on CUDA a copy (mixed-precision for fp16).
    """

    name = "torch"

    def __init__(self, model: WildHandsNet, device: str = "cpu", precision: str = "fp32") -> None:
        if precision not in TORCH_PRECISIONS:
            raise ValueError(f"precision={precision!r} not in {set(TORCH_PRECISIONS)}")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device={device!r} but CUDA is not available; use device='cpu'")
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        if precision == "fp16" and not self.cuda:
            raise ValueError(
                f"precision='fp16' needs a CUDA device, got device={device!r}; use precision='fp32'"
            )
        self.precision = precision
        self.config = model.config
        if precision == "fp16":
            from wildhands.model.export import mixed_precision_copy

            model = mixed_precision_copy(model)
        elif self.cuda:  # leave the caller's model on the CPU
            model = copy.deepcopy(model)
        self.model = model.to(self.device).eval()
        self.memory_format = torch.channels_last if self.cuda else torch.contiguous_format
        if self.cuda:
            self.model = self.model.to(memory_format=torch.channels_last)

    @torch.inference_mode()
    def infer(self, images: np.ndarray, kpe: np.ndarray) -> EngineOutput:
        check_inputs(images, kpe, self.config.image_size, self.config.kpe.num_points)
        images_t = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
        kpe_t = torch.from_numpy(np.ascontiguousarray(kpe, dtype=np.float32))
        if self.cuda:
            images_t = images_t.to(self.device).contiguous(memory_format=self.memory_format)
            kpe_t = kpe_t.to(self.device)
        outputs = self.model.forward_tensors(images_t, kpe_t)
        if self.cuda:  # one device -> host copy of everything
            flat = torch.cat([t.float().reshape(t.shape[0], -1) for t in outputs], dim=1).cpu().numpy()
            arrays, start = [], 0
            for t in outputs:
                size = int(np.prod(t.shape[1:]))
                arrays.append(flat[:, start : start + size].reshape(t.shape))
                start += size
            return EngineOutput.from_sequence(arrays)
        return EngineOutput.from_sequence(t.float().numpy() for t in outputs)
