"""MLX memory (active, peak, cache) on any machine whose process has MLX loaded.

On an Apple Silicon Mac the Apple Silicon probe reports the same readings next
to its GPU statistics, so this probe stands aside there. Elsewhere (MLX's CPU
build on Linux) it is available when the process has imported ``mlx.core`` by
the time the run starts (mlx-lm code has: it loads the model first, and
``mlops lora train`` imports mlx-lm before it opens the run). It never imports
MLX itself.
"""

from __future__ import annotations

import platform
import sys

from mlops.hardware.apple import mlx_memory
from mlops.hardware.base import Probe

__all__ = ["MLXMemoryProbe"]


class MLXMemoryProbe(Probe):
    """``system/mlx_{active,peak,cache}_memory_megabytes`` while ``mlx.core`` is loaded."""

    name = "mlx"

    def available(self) -> bool:
        """True when this process has loaded MLX and this is not an Apple Silicon Mac."""
        if sys.platform == "darwin" and platform.machine() == "arm64":
            return False  # AppleSiliconProbe reports MLX memory there
        return sys.modules.get("mlx.core") is not None

    def sample(self) -> dict[str, float]:
        """MLX's memory in megabytes; nothing while the process has not imported MLX."""
        mx = sys.modules.get("mlx.core")
        return mlx_memory(mx) if mx is not None else {}
