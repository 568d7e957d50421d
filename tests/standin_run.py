"""Run ``inception_score.compute`` with the stand-in classifier from a subprocess (torchrun, kill -9).

Usage: python standin_run.py OUT.json SOURCE [option=value ...]   (values parsed as Python literals)
``slow=SECONDS`` sleeps that long per batch, so that a test can kill the process mid-way.
"""

from __future__ import annotations

import ast
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import inception_score  # noqa: E402
from conftest import StandInClassifier  # noqa: E402


class Slow(torch.nn.Module):
    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.inner, self.seconds = StandInClassifier(), seconds

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(x) > 1:  # not the one-image probe
            time.sleep(self.seconds)
        return self.inner(x)


def main() -> None:
    out, source, *pairs = sys.argv[1:]
    options = {k: ast.literal_eval(v) for k, v in (p.split("=", 1) for p in pairs)}
    network = Slow(options.pop("slow", 0.0))
    torch.set_num_threads(1)
    result = inception_score.compute(source, network=network, progress=False, **options)
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    if rank == 0:
        Path(out).write_text(result.to_json())


if __name__ == "__main__":
    main()
