"""Shared test fixtures: quiet TensorFlow, seeded RNGs, a restorable Keras dtype policy, the
offline CIFAR-10 copy, a small archive; and a check that every test that trains a model is
marked `slow`, so that `-m "not slow"` trains nothing."""

from __future__ import annotations

import functools
import io
import os
import random
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
SHARED_ARCHIVE = ROOT.parent / "shared" / "data" / "cifar10-jpeg-q75.tar.gz"
# Decoding the shared archive takes seconds; keep its cache across test sessions.
SHARED_CACHE = Path(tempfile.gettempdir()) / "labkit-test-cache"


@pytest.fixture
def seeded():
    """Seeds Python and NumPy, and Keras (with its backend) where a test module imported it."""
    random.seed(0)
    np.random.seed(0)
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.utils.set_random_seed(0)


@pytest.fixture
def restore_dtype_policy():
    """Restores Keras' global dtype policy after a test that changes it."""
    import keras

    policy = keras.config.dtype_policy()
    yield
    keras.config.set_dtype_policy(policy)


@pytest.fixture(scope="session")
def shared_archive() -> Path:
    """The offline CIFAR-10 copy beside the checkout (skips where it is absent)."""
    if not SHARED_ARCHIVE.is_file():
        pytest.skip(f"offline CIFAR-10 copy not found at {SHARED_ARCHIVE}")
    _warm_shared_cache()
    return SHARED_ARCHIVE


def _warm_shared_cache() -> None:
    """Decodes the offline copy into `SHARED_CACHE` once, for every test process.

    On a fresh machine the cache is cold: without this, each pytest-xdist worker and each
    notebook kernel that loads CIFAR-10 at the start decodes the archive itself (about 30 s of
    CPU each), all at once on two cores, and a timed test (the browser's) ran out of time.
    """
    from filelock import FileLock

    from labkit.data import load_dataset

    SHARED_CACHE.mkdir(parents=True, exist_ok=True)
    with FileLock(SHARED_CACHE / "decoding.lock"):
        load_dataset("cifar10", archive=SHARED_ARCHIVE, cache_dir=SHARED_CACHE, dtype="uint8")


@pytest.fixture(scope="session")
def cifar10_env(shared_archive) -> dict[str, str]:
    """Environment variables that point labkit at the offline CIFAR-10 copy and its cache."""
    return {"LABKIT_CIFAR10_ARCHIVE": str(shared_archive), "LABKIT_CACHE_DIR": str(SHARED_CACHE)}


@pytest.fixture
def offline_cifar10(shared_archive, monkeypatch) -> Path:
    """Points labkit at the offline copy through the environment, as CI and users do."""
    monkeypatch.setenv("LABKIT_CIFAR10_ARCHIVE", str(shared_archive))
    monkeypatch.setenv("LABKIT_CACHE_DIR", str(SHARED_CACHE))
    return shared_archive


def write_cifar_archive(
    path: Path,
    per_class: dict[str, int] | None = None,
    seed: int = 0,
    truncate: int = 0,
    extra: dict[str, bytes] | None = None,
) -> Path:
    """Writes a small archive in the offline CIFAR-10 layout (random 32x32 JPEG images), and the
    `extra` files (by path in the archive)."""
    from PIL import Image

    from labkit.data import CIFAR10_CLASSES

    per_class = per_class or {"train": 3, "test": 2}
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for split, count in per_class.items():
            for label, class_name in enumerate(CIFAR10_CLASSES):
                for index in range(count):
                    # A flat colour per class keeps JPEG artefacts small and labels checkable.
                    pixels = np.full((32, 32, 3), 20 * label + 10, dtype=np.uint8)
                    pixels[0, 0] = rng.integers(0, 255, 3)
                    image = io.BytesIO()
                    Image.fromarray(pixels).save(image, format="JPEG", quality=95)
                    info = tarfile.TarInfo(f"cifar10-jpeg/{split}/{class_name}/{index:04d}.jpg")
                    info.size = image.tell()
                    image.seek(0)
                    tar.addfile(info, image)
        for name, content in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    data = buffer.getvalue()
    path.write_bytes(data[: len(data) - truncate] if truncate else data)
    return path


@pytest.fixture
def make_archive():
    """`write_cifar_archive`, for tests that need an archive of their own shape."""
    return write_cifar_archive


@pytest.fixture
def small_archive(tmp_path) -> Path:
    """A 50-image CIFAR-10-layout archive (3 train + 2 test images per class)."""
    return write_cifar_archive(tmp_path / "small-cifar10.tar.gz")


@pytest.fixture(scope="session")
def random_cifar10():
    """200 training and 100 test images of random pixels, CIFAR-10 shaped, one-hot labels."""
    from labkit.data import CIFAR10_CLASSES, Dataset

    rng = np.random.default_rng(0)
    labels = np.arange(300) % 10
    return Dataset(
        name="cifar10",
        x_train=rng.random((200, 32, 32, 3), dtype=np.float32),
        y_train=np.eye(10, dtype="float32")[labels[:200]],
        x_test=rng.random((100, 32, 32, 3), dtype=np.float32),
        y_test=np.eye(10, dtype="float32")[labels[200:]],
        class_names=CIFAR10_CLASSES,
    )


@pytest.fixture(scope="session")
def dead_pid() -> int:
    """The id of a process that has ended (to stand for a killed writer)."""
    import subprocess

    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture
def run_labkit():
    """Runs the `labkit` command in a subprocess: `run_labkit("report", "runs", cwd=folder)`."""

    def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "labkit", *args]
        return subprocess.run(command, cwd=cwd, capture_output=True, text=True)

    return run


def execute_notebook(notebook: Path, parameters: dict, folder: Path) -> list[dict]:
    """Runs `notebook` headless with papermill in `folder` (`executed.ipynb` is written there)
    and returns the outputs of its code cells, in order."""
    import nbformat
    import papermill

    executed = folder / "executed.ipynb"
    papermill.execute_notebook(
        str(notebook),
        str(executed),
        parameters=parameters,
        cwd=str(folder),
        kernel_name="python3",
        progress_bar=False,
    )
    return [
        output
        for cell in nbformat.read(executed, as_version=4).cells
        if cell.cell_type == "code"
        for output in cell.outputs
    ]


def gathered_parameters(notebook: Path, variable: str = "params") -> set[str]:
    """The keyword names of the `dict(...)` call that `notebook` assigns to `variable`: the
    parameters a labkit notebook hands to labkit."""
    import ast

    import nbformat

    cells = nbformat.read(notebook, as_version=4).cells
    gathering = next(cell for cell in cells if f"{variable} = dict(" in cell.source)
    call = next(
        node.value
        for node in ast.parse(gathering.source).body
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == variable
    )
    return {keyword.arg for keyword in call.keywords}


@pytest.fixture
def notebooks():
    """`execute_notebook` and `gathered_parameters`, for the notebook tests."""
    from types import SimpleNamespace

    return SimpleNamespace(execute=execute_notebook, gathered_parameters=gathered_parameters)


@pytest.fixture
def local_cluster():
    """A one-worker Dask `LocalCluster` on 127.0.0.1 (skips where `distributed` is missing)."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        yield cluster


# --- `-m "not slow"` trains nothing ----------------------------------------------------------
# Every optimizer step goes through `Optimizer.apply` (TensorFlow, PyTorch) or `stateless_apply`
# (JAX), inside `fit`, `train_on_batch` and hand-written loops alike. While a test that is not
# marked `slow` is set up or runs, such a step fails it, naming the test. The test's id is also
# put in the environment, so that a pytest it starts (a module run on another backend) fails
# the same way, however its own tests are marked.
MUST_NOT_TRAIN = "LABKIT_TEST_MUST_NOT_TRAIN"
_STARTED_BY = os.environ.get(MUST_NOT_TRAIN)
_training = {"steps": 0}


def _watch_optimizer_steps() -> None:
    keras = sys.modules.get("keras")
    optimizer = getattr(getattr(keras, "optimizers", None), "Optimizer", None)
    if optimizer is None or getattr(optimizer, "_watched_by_tests", False):
        return
    for name in ("apply", "stateless_apply"):
        original = getattr(optimizer, name)

        @functools.wraps(original)
        def counted(self, *args, _original=original, **kwargs):
            _training["steps"] += 1
            return _original(self, *args, **kwargs)

        setattr(optimizer, name, counted)
    optimizer._watched_by_tests = True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    return (yield from _failing_unmarked_training(item, "was set up"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    return (yield from _failing_unmarked_training(item, "ran"))


def _failing_unmarked_training(item: pytest.Item, phase: str):
    if item.get_closest_marker("slow") is not None and _STARTED_BY is None:
        return (yield)
    _watch_optimizer_steps()
    _training["steps"] = 0
    os.environ[MUST_NOT_TRAIN] = _STARTED_BY or item.nodeid
    try:
        result = yield
    finally:
        steps, _training["steps"] = _training["steps"], 0
        if _STARTED_BY is None:
            os.environ.pop(MUST_NOT_TRAIN, None)
    if steps:
        who = f"{_STARTED_BY} (through {item.nodeid})" if _STARTED_BY else item.nodeid
        pytest.fail(
            f"{who} trains a model (an optimizer updated weights while it {phase}) but is not "
            'marked `@pytest.mark.slow`, so `-m "not slow"` would train it',
            pytrace=False,
        )
    return result


# The modules that take longest, run first: under `pytest -n 2 --dist loadfile` (the README's
# command) each module runs whole in one process, and a long one handed out last holds up the
# end of the run while the other process has nothing left to do.
LONGEST_FIRST = (
    "tests/integration/test_backends.py",
    "tests/integration/test_sweep_tutorial.py",
    "tests/integration/test_search_tutorial.py",
    "tests/paper/test_paper_gpu_script.py",
    "tests/test_tfa_checkpoints.py",
    "tests/integration/test_browser.py",
)


def pytest_configure(config: pytest.Config) -> None:
    # pytest-xdist would otherwise hand out the modules with the most tests first, which puts
    # the few long ones last.
    config.option.loadscopereorder = False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = Path(os.path.relpath(item.path, ROOT)).as_posix()
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the order within a module and among the rest is kept
