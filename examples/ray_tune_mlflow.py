"""A Ray Tune grid search logged to MLPlatform with Ray's own MLflowLoggerCallback, unchanged.

    pip install "mlplatform[integration]"
    export MLFLOW_TRACKING_URI=http://localhost:8080
    export MLFLOW_TRACKING_TOKEN=mlp_...        # a write token of your project
    python examples/ray_tune_mlflow.py

Every trial becomes a run of the experiment, with the trial's config as params, every reported
result as metrics (step = training iteration) and status FINISHED when the trial ends.
"""

from __future__ import annotations

import math
import os
import tempfile

from ray import tune
from ray.air.integrations.mlflow import MLflowLoggerCallback


def train(config: dict) -> None:
    """A stand-in for real training: the loss falls faster with a larger learning rate."""
    for epoch in range(1, config["epochs"] + 1):
        loss = math.exp(-config["lr"] * epoch)
        tune.report({"loss": loss, "accuracy": 1.0 - loss})


def sweep(*, tracking_uri: str, experiment_name: str, storage_path: str) -> tune.ResultGrid:
    """Run a two-trial grid search, logging each trial as a run of `experiment_name`."""
    tuner = tune.Tuner(
        train,
        param_space={"lr": tune.grid_search([0.1, 0.5]), "epochs": 3},
        run_config=tune.RunConfig(
            name=experiment_name,
            storage_path=storage_path,
            callbacks=[
                MLflowLoggerCallback(
                    tracking_uri=tracking_uri,
                    experiment_name=experiment_name,
                    save_artifact=False,
                )
            ],
        ),
    )
    return tuner.fit()


if __name__ == "__main__":
    import ray

    ray.init(num_cpus=2, include_dashboard=False)
    results = sweep(
        tracking_uri=os.environ.get("MLFLOW_TRACKING_URI", "http://localhost:8080"),
        experiment_name=os.environ.get("EXPERIMENT", "ray-tune-example"),
        storage_path=tempfile.mkdtemp(prefix="ray-results-"),
    )
    best = results.get_best_result(metric="loss", mode="min")
    print(f"best lr: {best.config['lr']}, loss: {best.metrics['loss']:.4f}")
