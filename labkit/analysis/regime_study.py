"""The reduced study: a small regimes study that trains here, in a few minutes, when no runs
folder of the full one is at hand (`notebooks/where_weightnorm_helps.ipynb` opened fresh).

The full study is a sweep of the tutorial notebook (`FULL_STUDY_COMMAND`: 3 optimizers x 5
learning rates x 4 normalizations x 5 seeds, an hour on a 2-core CPU). The reduced one
(`REDUCED_STUDY`) keeps the question, where weight normalization helps, on a grid small
enough to train in this process in at most 10 minutes on such a CPU: plain SGD and Adam, three
learning rates a decade apart, no normalization against weight normalization, three seeds,
on a 2,000-image subset of CIFAR-10. Its runs are laid out as a sweep's (one folder per
optimizer, learning rate and seed, one `metrics.json` per ConvNet inside), so
`labkit.analysis.regimes` reads them the same way; rerunning it skips the runs already completed.

Example:

>>> folder = study_runs("")  # no runs folder: trains the reduced study, with a progress bar
>>> runs = load_regime_runs(folder)
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkit._checks import check_choice
from labkit.results import read_record

__all__ = [
    "StudyPlan",
    "REDUCED_STUDY",
    "REDUCED_STUDY_DIR",
    "FULL_STUDY_COMMAND",
    "run_study",
    "study_runs",
    "reduced_study_note",
]

# Where the reduced study writes its runs, relative to the working folder.
REDUCED_STUDY_DIR = "runs/where_weightnorm_helps_reduced"
# How to run the full study (then `-p runs_dir runs/regimes` for the notebook).
FULL_STUDY_COMMAND = (
    "labkit sweep notebooks/weight_norm.ipynb --grid notebooks/where_weightnorm_helps.grid.yaml "
    "--seeds 0-4 --out runs/regimes --timeout 1800"
)


@dataclass(frozen=True)
class StudyPlan:
    """The grid of a regimes study trained in one process, and the protocol of each training.

    Every optimizer x learning rate x normalization x seed is one training. The rest are
    `labkit.ExperimentParams` fields shared by all of them (checked when the study starts).

    Example:

    >>> tiny = REDUCED_STUDY.replace(seeds=(0, 1), epochs=1, train_limit=200)
    >>> tiny.trainings
    24
    """

    optimizers: tuple[str, ...] = ("sgd", "adam")
    learning_rates: tuple[float, ...] = (0.001, 0.01, 0.1)
    normalizations: tuple[str, ...] = ("none", "weightnorm")
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: int = 3
    batch_size: int = 32
    train_limit: int = 2000
    test_limit: int = 1000
    data_init: bool = True
    init_style: str = "paper"

    @property
    def trainings(self) -> int:
        """How many models the study trains."""
        grid = (self.optimizers, self.learning_rates, self.normalizations, self.seeds)
        count = 1
        for values in grid:
            count *= len(values)
        return count

    def replace(self, **changes: Any) -> StudyPlan:
        """A copy with `changes`; lists become tuples.

        Example:

        >>> REDUCED_STUDY.replace(seeds=[0, 1]).seeds
        (0, 1)
        """
        changes = {k: tuple(v) if isinstance(v, list) else v for k, v in changes.items()}
        fields = [field.name for field in dataclasses.fields(self)]
        for name in changes:
            check_choice("reduced_study", name, fields)
        return dataclasses.replace(self, **changes)

    def describe(self) -> str:
        """The plan in one sentence.

        Example:

        >>> REDUCED_STUDY.describe()
        '2 optimizers (sgd, adam) x 3 learning rates (0.001, 0.01, 0.1) x 2 normalizations ...'
        """
        parts = [
            ("optimizers", ", ".join(self.optimizers)),
            ("learning rates", ", ".join(f"{rate:g}" for rate in self.learning_rates)),
            ("normalizations", ", ".join(self.normalizations)),
            ("seeds", ", ".join(str(seed) for seed in self.seeds)),
        ]
        grid = " x ".join(f"{len(values.split(', '))} {name} ({values})" for name, values in parts)
        return (
            f"{grid}: {self.trainings} trainings of {self.epochs} epochs on "
            f"{self.train_limit:,} CIFAR-10 training images (batch {self.batch_size}), "
            f"validated on {self.test_limit:,} test images"
        )

    def runs(self, out_dir: str | os.PathLike, archive: str | None = None) -> list:
        """One `ExperimentParams` per training, each writing below `out_dir` as a sweep does."""
        from labkit.params import ExperimentParams

        runs = []
        for optimizer in self.optimizers:
            for rate in self.learning_rates:
                for seed in self.seeds:
                    folder = Path(out_dir) / f"{optimizer}-lr{rate:g}-seed{seed}"
                    for normalization in self.normalizations:
                        runs.append(
                            ExperimentParams(
                                optimizer=optimizer,
                                learning_rate=rate,
                                normalization=normalization,
                                seed=seed,
                                epochs=self.epochs,
                                batch_size=self.batch_size,
                                train_limit=self.train_limit,
                                test_limit=self.test_limit,
                                data_init=self.data_init,
                                init_style=self.init_style,
                                output_dir=str(folder),
                                archive=archive,
                            )
                        )
        return runs


# Sized to train in at most 10 minutes on a shared 2-core CPU (see docs/where-weightnorm-helps.md).
REDUCED_STUDY = StudyPlan()


def run_study(
    out_dir: str | os.PathLike = REDUCED_STUDY_DIR,
    plan: StudyPlan = REDUCED_STUDY,
    archive: str | None = None,
    progress: bool = True,
) -> Path:
    """Trains every run of `plan` not yet completed in `out_dir`; returns `out_dir`.

    The data is loaded once per seed (the subset is drawn with it); each run's files are
    written as it trains, so a study that is interrupted keeps what it computed and a rerun
    trains only what is missing. A progress bar counts the trainings: a widget in JupyterLab
    and Notebook 7, text elsewhere (papermill, scripts).

    Example:

    >>> run_study("runs/reduced", REDUCED_STUDY.replace(seeds=(0,), epochs=1))
    PosixPath('runs/reduced')
    """
    import keras

    from labkit.experiment import run_experiment

    out_dir = Path(out_dir)
    runs = plan.runs(out_dir, archive)
    for params in runs[:1]:
        params.check_output_dir()  # before any data is loaded
    todo = [params for params in runs if not _completed(params)]
    data = {}
    with _progress_bar(len(runs), len(runs) - len(todo), progress) as bar:
        for params in todo:
            bar.set_postfix_str(
                f"{params.optimizer}, lr {params.learning_rate:g}, "
                f"{params.normalization}, seed {params.seed}",
                refresh=False,
            )
            if params.seed not in data:  # the subset is drawn with the seed
                data[params.seed] = params.load_data()
            run_experiment(params, data=data[params.seed])
            keras.backend.clear_session()  # the models of earlier runs are not needed
            bar.update()
    return out_dir


def study_runs(
    runs_dir: str | os.PathLike | None,
    overrides: Mapping[str, Any] | None = None,
    out_dir: str | os.PathLike = REDUCED_STUDY_DIR,
) -> Path:
    """The runs folder to analyse: `runs_dir` when given, else the reduced study's, trained now.

    Without `runs_dir` it first says, in the notebook (or on stdout), that this is the reduced
    study and how to run the full one (`reduced_study_note`), then runs `REDUCED_STUDY`
    (with `overrides` of its fields, e.g. `{"seeds": [0, 1]}`) into `out_dir`.

    Example:

    >>> study_runs("runs/regimes")  # the full study's folder, as it is
    PosixPath('runs/regimes')
    """
    if runs_dir:
        return Path(runs_dir)
    plan = REDUCED_STUDY.replace(**(overrides or {}))
    _show_markdown(reduced_study_note(plan, out_dir))
    return run_study(out_dir, plan)


def reduced_study_note(plan: StudyPlan = REDUCED_STUDY, out_dir=REDUCED_STUDY_DIR) -> str:
    """What the notebook says before it trains the reduced study (markdown).

    Example:

    >>> print(reduced_study_note())
    """
    return (
        "**This is the reduced study**, not the full one: no runs folder was given "
        "(`runs_dir`), so the notebook trains a small grid here and analyses it: "
        f"{plan.describe()}. Its runs go to `{out_dir}`; a rerun reuses them. Three seeds "
        "and a small subset show the method and the regimes, not the paper's numbers. "
        "For the full study (3 optimizers x 5 learning rates x 4 normalizations x 5 seeds on "
        "10,000 images, about an hour on a 2-core CPU), run\n\n"
        f"```bash\n{FULL_STUDY_COMMAND}\n```\n\n"
        "then this notebook with `-p runs_dir runs/regimes`."
    )


def _completed(params) -> bool:
    """Whether the run's `metrics.json` says it completed."""
    folder = Path(params.output_dir) / params.run_name
    if not (folder / "metrics.json").is_file():
        return False
    try:
        return read_record(folder).status == "completed"
    except ValueError:
        return False  # unreadable: train it again


def _progress_bar(total: int, done: int, enabled: bool):
    """A tqdm bar: the notebook widget where a Jupyter front end draws it, text elsewhere."""
    from labkit.live.environment import detect_mode

    if detect_mode() == "widget":
        from tqdm.notebook import tqdm
    else:
        from tqdm import tqdm
    return tqdm(
        total=total,
        initial=done,
        desc="reduced study",
        unit="training",
        disable=not enabled,
        file=sys.stdout,
        mininterval=5,
    )


def _show_markdown(text: str) -> None:
    from labkit.live.environment import in_kernel

    if in_kernel():
        from IPython.display import Markdown, display

        display(Markdown(text))
    else:
        print(text)
