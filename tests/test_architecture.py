"""The structure a newcomer relies on: data flows one way, each concept in one place, one result builder.

Read with ``ast``: no import cycle in the package, no private name imported across modules, the
per-batch loop of the pipeline fits on one screen. Then the promises of the layout: the metric
object and ``compute()`` give the same fields, ``compute()`` runs without Linux-only calls, and
the README's building-blocks example runs as written.
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import inception_score

from .conftest import make_images

PACKAGE = Path(inception_score.__file__).parent
README = PACKAGE.parents[1] / "README.md"
LAYERS = ["inputs", "features", "metrics", "run", "report"]  # data flows left to right


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts)
        out[name[: -len(".__init__")] if name.endswith(".__init__") else name] = path
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> list[tuple[str, str, int]]:
    """(imported module, imported name, line) for every ``from X import Y`` in the module, any depth."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                full = f"{target}.{alias.name}"
                found.append((full if full in known else target, alias.name, node.lineno))
        elif isinstance(node, ast.Import):
            found.extend((alias.name, "", node.lineno) for alias in node.names)
    return [(m, n, line) for m, n, line in found if m in known]


def test_no_import_cycles_and_no_private_names_across_modules() -> None:
    known = modules()
    graph = {name: {m for m, _, _ in imports(name, path, known) if m != name} for name, path in known.items()}
    private = [
        f"{name}:{line} imports {what} from {mod}"
        for name, path in known.items()
        for mod, what, line in imports(name, path, known)
        if what.startswith("_") and not what.startswith("__") and mod != name
    ]
    assert private == []

    # the package __init__ re-exports lazily; every other edge must be acyclic
    edges = {n: {m for m in deps if m != "inception_score"} for n, deps in graph.items() if n != "inception_score"}
    state: dict[str, int] = {}
    cycles: list[str] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(edges.get(node, ())):
            if state.get(dep) == 1:
                cycles.append(" -> ".join([*stack[stack.index(dep) :], dep]))
            elif dep not in state:
                visit(dep, [*stack, dep])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_layers_import_only_to_their_left() -> None:
    known = modules()
    wrong = []
    for name, path in known.items():
        parts = name.split(".")
        if len(parts) < 3 or parts[1] not in LAYERS:
            continue
        mine = LAYERS.index(parts[1])
        for mod, _, line in imports(name, path, known):
            target = mod.split(".")
            if len(target) >= 2 and target[1] in LAYERS and LAYERS.index(target[1]) > mine:
                wrong.append(f"{name}:{line} imports {mod}")
            if len(target) >= 2 and target[1] in ("metric", "cli"):
                wrong.append(f"{name}:{line} imports {mod}")
    assert wrong == []


def test_the_per_batch_loop_fits_on_one_screen() -> None:
    loops = [
        node
        for path in sorted((PACKAGE / "run").glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.For) and "iterate_batches" in ast.unparse(node.iter)
    ]
    assert len(loops) == 1, "one per-batch loop, for the samples and the reference alike"
    loop = loops[0]
    assert loop.end_lineno - loop.lineno + 1 <= 15  # type: ignore[operator]
    # it knows no metric by name: it only calls update on each accumulator
    body = ast.unparse(loop)
    for name in ("SplitScores", "PoissonBootstrap", "NearDuplicates", "NestedSubsets", "FrechetDistance", "KID"):
        assert name not in body


def test_one_lazy_export_table_and_the_function_is_exported() -> None:
    from inception_score import preprocess

    assert callable(preprocess) and preprocess.__module__ == "inception_score.features.preprocess"
    for name in inception_score.__all__:
        assert getattr(inception_score, name) is not None, name
    assert sorted(dir(inception_score)) == sorted(set(dir(inception_score)))


def test_building_blocks_example_of_the_readme_runs(checkpoint_path: Path, monkeypatch) -> None:
    text = README.read_text(encoding="utf-8")
    block = re.search(r"## Building blocks\s+```python\n(.*?)```", text, re.S)
    assert block is not None
    monkeypatch.setenv("INCEPTION_SCORE_WEIGHTS", str(checkpoint_path))
    images = torch.from_numpy(make_images(4, (32, 32), seed=3)).permute(0, 3, 1, 2).contiguous()
    namespace = {"torch": torch, "uint8_nchw_batch": images, "N": 4, "indices": np.arange(4)}
    exec(compile(block.group(1), "README building blocks", "exec"), namespace)  # noqa: S102
    scores = namespace["acc"].split_scores()
    assert scores.shape == (1,) and scores[0] > 1.0


def test_compute_runs_without_linux_only_calls(png_folder: Path, stand_in, monkeypatch) -> None:
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)  # as on macOS and Windows
    result = inception_score.compute(png_folder, network=stand_in, splits=2, progress=False, device="cpu")
    assert result.num_images == 40
    from inception_score.run.plan import available_cpus, default_workers

    assert available_cpus() >= 1 and default_workers(torch.device("cuda")) >= 1


SAME_FIELDS = dict(splits=2, protocol="original", bootstrap=20, seed=4)


@pytest.fixture(scope="module")
def computed(checkpoint_path: Path) -> tuple[np.ndarray, inception_score.Result]:
    """8 images and compute()'s result, once for both variants of the metric object (the suite's time)."""
    images = make_images(8, (32, 32), seed=77)
    ref = inception_score.compute(images, weights=str(checkpoint_path), batch_size=4, progress=False, **SAME_FIELDS)
    return images, ref


@pytest.mark.parametrize("num_samples", [None, 8])
def test_metric_object_and_compute_give_the_same_fields(
    computed, checkpoint_path: Path, num_samples: int | None
) -> None:
    images, ref = computed
    metric = inception_score.InceptionScore(weights=checkpoint_path, num_samples=num_samples, **SAME_FIELDS)
    for lo in range(0, 8, 4):  # the same batches as compute(), so the convolutions give the same bits
        metric.update(images[lo : lo + 4])
    got = metric.compute().to_dict()
    want = ref.to_dict()
    run_only = {"elapsed_s", "images_per_second", "final_s", "batch_size", "sources", "warnings", "cache_hits"}
    run_only |= {"cache_misses"}
    assert set(got) == set(want)
    for key in sorted(set(want) - run_only):
        assert got[key] == want[key], key
    assert set(got["warnings"]) <= set(want["warnings"])  # the metric keeps its warnings instead of showing them
