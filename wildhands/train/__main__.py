"""``python -m wildhands.train ARGS`` = ``wildhands train ARGS``: the entry point torchrun starts per process.

torchrun --nproc_per_node 2 -m wildhands.train --config config/train/paper_resnet50_gpu.yaml
"""

from __future__ import annotations

import sys

from wildhands.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
