"""Quickstart: log a real training run with mlops and say where to look.

Run from the repository root: `uv run --frozen --all-extras python examples/quickstart.py`.
Everything goes to the embedded store under ./.mlops/ (nothing to start).
"""

from __future__ import annotations

import time

from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split

from mlops.client import create_client


def main() -> None:
    started = time.perf_counter()
    client = create_client("quickstart")
    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, random_state=0)
    model = SGDClassifier(loss="log_loss", alpha=1e-3, random_state=0)
    with client.start_run(run_name="sgd", log_system_metrics=True) as run:
        client.log_params({"alpha": 1e-3, "loss": "log_loss", "epochs": 20})
        for epoch in range(20):
            model.partial_fit(x_train, y_train, classes=[0, 1])
            client.log_metrics(
                {
                    "train_acc": model.score(x_train, y_train),
                    "test_acc": model.score(x_test, y_test),
                },
                step=epoch,
            )
        info = client.log_model(model, "model", registered_model_name="quickstart-sgd")
    uri = client.settings.tracking_uri
    print(f"run {run.info.run_id} logged in {time.perf_counter() - started:.1f} s")
    print(f"model: {info.model_uri} (registered as quickstart-sgd)")
    print("look at it:")
    print("  mlops runs list -p quickstart")
    print(f"  mlflow ui --backend-store-uri {uri}")
    client.close()


if __name__ == "__main__":
    main()
