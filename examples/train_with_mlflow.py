"""Plain MLflow code logging to MLPlatform: nothing but two environment variables changes.

    export MLFLOW_TRACKING_URI=http://localhost:8080
    export MLFLOW_TRACKING_TOKEN=mlp_...        # a write token of your project
    python examples/train_with_mlflow.py

The run lands in the token's project, in the experiment "examples", owned by the token's user.
"""

from __future__ import annotations

import json
import math
import random
import tempfile
from pathlib import Path

import mlflow


def train(*, lr: float, epochs: int) -> float:
    """A toy training loop that logs like real code does: params, per-step metrics, an artifact."""
    mlflow.log_params({"lr": lr, "epochs": epochs, "optimizer": "sgd"})
    mlflow.set_tag("team", "examples")
    loss = 1.0
    for epoch in range(epochs):
        loss = math.exp(-lr * (epoch + 1)) + random.uniform(0, 0.01)
        mlflow.log_metrics({"loss": loss, "accuracy": 1 - loss}, step=epoch)
    with tempfile.TemporaryDirectory() as folder:
        summary = Path(folder) / "summary.json"
        summary.write_text(json.dumps({"final_loss": loss}))
        mlflow.log_artifact(str(summary), artifact_path="reports")
    return loss


def main() -> None:
    mlflow.set_experiment("examples")
    with mlflow.start_run(run_name="sweep") as parent:
        for lr in (0.05, 0.2):
            with mlflow.start_run(run_name=f"lr={lr}", nested=True):
                final = train(lr=lr, epochs=20)
                print(f"lr={lr}: final loss {final:.4f}")
    print(f"parent run: {parent.info.run_id}")
    runs = mlflow.search_runs(
        filter_string="metrics.loss < 0.5", order_by=["metrics.loss ASC"], output_format="list"
    )
    print(f"{len(runs)} runs with loss < 0.5")


if __name__ == "__main__":
    main()
