"""MLX memory (active, peak, cache) on any machine whose process has MLX loaded.

On an Apple Silicon Mac the Apple Silicon probe reports the same readings next
to its GPU statistics, so this probe stands aside there. Elsewhere (MLX's CPU
build on Linux) it is available whenever the ``mlx`` package is installed, and
it reports from the first sample taken after the process has imported
``mlx.core``: a run can start before the training code loads MLX. Until then it
reports nothing. It never imports MLX itself, so a process that does not use
MLX never pays for loading it.
"""

from __future__ import annotations

import importlib.util
import platform
import sys

from mlops.hardware.apple import mlx_memory
from mlops.hardware.base import Probe

__all__ = ["MLXMemoryProbe"]


class MLXMemoryProbe(Probe):
    """``system/mlx_{active,peak,cache}_memory_megabytes`` once ``mlx.core`` is loaded."""

    name = "mlx"

    def available(self) -> bool:
        """True when MLX is installed and this is not an Apple Silicon Mac."""
        if sys.platform == "darwin" and platform.machine() == "arm64":
            return False  # AppleSiliconProbe reports MLX memory there
        if sys.modules.get("mlx.core") is not None:
            return True
        try:  # find_spec of a top-level name looks for it without importing anything
            return importlib.util.find_spec("mlx") is not None
        except (ImportError, ValueError):
            return False

    def sample(self) -> dict[str, float]:
        """MLX's memory in megabytes; nothing while the process has not imported MLX."""
        mx = sys.modules.get("mlx.core")
        return mlx_memory(mx) if mx is not None else {}
