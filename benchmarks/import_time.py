"""Wall time of `import mlops` + `create_client("p")` in a fresh process (median of 5).

Prints one JSON object. Target: <= 0.5 s and no heavy module loaded.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time

HEAVY = ("mlflow", "dvc", "bentoml", "evidently", "pandas", "sklearn", "torch", "numpy")
SCRIPT = (
    "import sys\n"
    "import mlops\n"
    "from mlops.client import create_client\n"
    "create_client('p', repo_root=sys.argv[1])\n"
    "loaded = {m.split('.')[0] for m in sys.modules}\n"
    "print(','.join(sorted(loaded & set(sys.argv[2].split(',')))))\n"
)


def run_once(root: str) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, root, ",".join(HEAVY)],
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - start, out.stdout.strip()


def main() -> None:
    with tempfile.TemporaryDirectory() as root:
        bare = statistics.median(_time([sys.executable, "-c", "pass"]) for _ in range(5))
        runs = [run_once(root) for _ in range(5)]
    wall = statistics.median(t for t, _ in runs)
    heavy = sorted({m for _, mods in runs for m in mods.split(",") if m})
    print(
        json.dumps(
            {
                "benchmark": "import_time",
                "import_and_create_client_s_median_of_5": round(wall, 4),
                "python_bare_startup_s": round(bare, 4),
                "heavy_modules_loaded": heavy,
                "target_s": 0.5,
                "meets_target": wall <= 0.5 and not heavy,
            }
        )
    )


def _time(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
