"""Synthetic sweeps for the tests of labkit.analysis: metrics.json files with known statistics."""

import json

# A learning-rate grid a decade apart.
RATES = (0.001, 0.01, 0.1)
# Validation accuracy per epoch, by (weight_norm, data_init, seed). Final values: regular
# 0.5/0.6/0.7, WeightNorm with data_init 0.60/0.62/0.64, without 0.45/0.65.
CURVES = {
    (False, True, 0): [0.3, 0.4, 0.5],
    (False, True, 1): [0.3, 0.65, 0.6],
    (False, True, 2): [0.2, 0.45, 0.7],
    (True, True, 0): [0.4, 0.5, 0.6],
    (True, True, 1): [0.5, 0.55, 0.62],
    (True, True, 2): [0.45, 0.6, 0.64],
    (True, False, 0): [0.3, 0.4, 0.45],
    (True, False, 1): [0.5, 0.6, 0.65],
}


def write_metrics(folder, *, weight_norm, data_init, seed, curve, status="completed", **params):
    """Writes a metrics.json shaped like the weight_norm notebook's."""
    folder.mkdir(parents=True)
    metrics = {
        "run_name": "weightnorm" if weight_norm else "regular",
        "status": status,
        "error": None,
        "params": {
            "run_name": "weightnorm" if weight_norm else "regular",
            "dataset": "cifar10",
            "weight_norm": weight_norm,
            "data_init": data_init,
            "epochs": len(curve),
            "seed": seed,
            "output_dir": str(folder.parent),
            **params,
        },
        "history": {"val_accuracy": curve},
        "epoch_seconds": [5.0, 1.0, 1.2],
        "epochs_completed": len(curve),
        "best_val_accuracy": max(curve),
        "final_val_accuracy": curve[-1],
        "duration_s": 7.2,
    }
    (folder / "metrics.json").write_text(json.dumps(metrics))
