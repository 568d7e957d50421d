"""Generators as sources: same score as the files, rounding, refusals, seeded latents, loading."""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import inception_score
from inception_score.errors import InputError, OptionsError
from inception_score.inputs.arrays import images_to_uint8
from inception_score.inputs.generators import GeneratorSource, ModuleGenerator, generator_source
from inception_score.inputs.models import load_generator

from .conftest import make_images, write_images


class Stored:
    """A sample function over stored images, with reset(): float in [-1, 1] or uint8, any layout."""

    def __init__(self, images: np.ndarray, as_float: bool = True) -> None:
        self.images = images.astype(np.float32) / 127.5 - 1.0 if as_float else images
        self.position = 0
        self.calls: list[int] = []

    def __call__(self, n: int) -> torch.Tensor:
        self.calls.append(n)
        out = torch.from_numpy(self.images[self.position : self.position + n]).permute(0, 3, 1, 2)
        self.position += n
        return out

    def reset(self) -> None:
        self.position = 0


def _options(**kw: object) -> dict[str, object]:
    return dict(splits=3, protocol="torch-fidelity", bootstrap=0, progress=False, batch_size=4, **kw)


def test_generator_scores_like_the_same_images_in_a_folder(tmp_path: Path, stand_in: nn.Module) -> None:
    images = make_images(17, seed=3)
    write_images(tmp_path / "folder", images)
    from_files = inception_score.compute(tmp_path / "folder", network=stand_in, **_options())
    fn = Stored(images)  # floats in [-1, 1]: rounding brings back the exact uint8 values
    source = GeneratorSource(fn, 17, batch_size=3, image_range=(-1, 1), name="stored")
    from_generator = inception_score.compute(source, network=stand_in, **_options())
    assert from_generator.split_scores == pytest.approx(from_files.split_scores, rel=1e-12)
    assert from_generator.num_images == 17 and from_generator.sources == ["stored"]
    assert max(fn.calls) <= 3 and sum(fn.calls) == 17  # exactly the images needed, at most batch_size per call


def test_the_ith_image_is_the_ith_sample_for_any_batching_and_start() -> None:
    images = make_images(11, seed=1)
    fn = Stored(images, as_float=False)
    source = GeneratorSource(fn, 11)
    batches = list(source.batches(batch_size=4, start=5, stop=10))
    assert [b.indices.tolist() for b in batches] == [[5, 6, 7, 8], [9]]
    got = torch.cat([b.images for b in batches]).permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(got, images[5:10])  # images 0..4 were generated and discarded
    again = torch.cat([b.images for b in source.batches(batch_size=3)]).permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(again, images)  # second pass: reset() and read from 0


def test_a_plain_function_cannot_go_back() -> None:
    calls = iter(range(100))
    source = GeneratorSource(lambda n: np.full((n, 4, 4, 3), next(calls), dtype=np.uint8), 6, name="g")
    assert len(list(source.batches(batch_size=4))) == 2
    with pytest.raises(InputError, match="g: cannot go back to image 0: sample_fn has drawn 6 images"):
        next(source.batches(batch_size=4))


def test_floats_are_rounded_not_truncated() -> None:
    # 255 * (x + 1) / 2 = 10.7 for this x: rounding gives 11, truncation 10.
    x = np.float32(10.7 / 127.5 - 1.0)
    source = GeneratorSource(lambda n: np.full((n, 2, 2, 3), x, dtype=np.float32), 2, image_range=(-1, 1))
    assert next(source.batches(batch_size=2)).images.unique().tolist() == [11]
    as_255 = GeneratorSource(lambda n: torch.full((n, 3, 2, 2), 10.6), 2, image_range=(0, 255))
    assert next(as_255.batches(batch_size=2)).images.unique().tolist() == [11]
    # tanh may overshoot by float rounding: tolerated within 1e-3 of the range, and clamped
    edge = GeneratorSource(lambda n: torch.full((n, 3, 2, 2), 1.0015), 1, image_range=(-1, 1))
    assert next(edge.batches(batch_size=1)).images.unique().tolist() == [255]


@pytest.mark.parametrize(
    "value, image_range, message",
    [
        (
            1.5,
            (-1, 1),
            r"gen: batch 1 \(images 3..4\): float values must lie in \[-1, 1\] \(image_range\), got .* 1.5\]",
        ),
        (-0.5, (0, 1), r"got values in \[-0.5, 0\]; values in \[-1, 1\] \(tanh\)\? declare image_range=\(-1, 1\)"),
        (float("nan"), (-1, 1), r"gen: batch 1 \(images 3..4\): contains NaN or inf \(image 4\)"),
        (float("inf"), (0, 1), r"contains NaN or inf"),
    ],
)
def test_out_of_range_and_nan_outputs_are_refused(value: float, image_range: tuple, message: str) -> None:
    def sample(n: int) -> torch.Tensor:
        out = torch.full((n, 3, 4, 4), float(image_range[0]))
        if sample.calls == 1:  # second batch, its second image
            out[-1, 0, 0, 0] = value
        sample.calls += 1
        return out

    sample.calls = 0  # type: ignore[attr-defined]
    source = GeneratorSource(sample, 5, image_range=image_range, name="gen")
    with pytest.raises(InputError, match=message):
        list(source.batches(batch_size=3))


def test_wrong_count_wrong_type_and_bad_options_are_refused() -> None:
    short = GeneratorSource(lambda n: np.zeros((max(n - 1, 0), 4, 4, 3), np.uint8), 5, name="short")
    with pytest.raises(
        InputError, match=r"short: batch 0 \(images 0..2\): sample_fn\(3\) returned 2 images; expected 3"
    ):
        list(short.batches(batch_size=3))
    listy = GeneratorSource(lambda n: "images", 2, name="s")
    with pytest.raises(InputError, match="got a str; expected a torch tensor or numpy array"):
        list(listy.batches(batch_size=2))
    ints = GeneratorSource(lambda n: np.zeros((n, 4, 4, 3), np.int64), 2, image_range=(-1, 1))
    with pytest.raises(InputError, match=r"expected uint8, or float in \[-1, 1\], got dtype int64"):
        list(ints.batches(batch_size=2))
    with pytest.raises(OptionsError, match=r"image_range: got \(1, 0\), expected lo < hi"):
        GeneratorSource(lambda n: None, 2, image_range=(1, 0))
    with pytest.raises(OptionsError, match=r"image_range: got 'a', expected a tuple of 2 numbers"):
        GeneratorSource(lambda n: None, 2, image_range="a")
    with pytest.raises(OptionsError, match="num_samples: got 0"):
        GeneratorSource(lambda n: None, 0)
    with pytest.raises(InputError, match="images 0..9 requested, but it holds 0..4"):
        list(GeneratorSource(lambda n: None, 5).batches(4, stop=10))


def test_images_to_uint8_takes_lists_and_refuses_floats_without_a_range() -> None:
    images = [torch.zeros(3, 4, 4), torch.ones(3, 6, 5)]
    out = images_to_uint8(images, (0, 1), "x")
    assert isinstance(out, list) and out[1].unique().tolist() == [255] and out[1].shape == (3, 6, 5)
    with pytest.raises(InputError, match="x: expected uint8, got dtype torch.float32; for float images pass"):
        images_to_uint8(torch.zeros(1, 3, 4, 4), None, "x")


class TinyGenerator(nn.Module):
    """z (N x 8) [, y] -> N x 3 x 4 x 4 in [-1, 1]; records the labels it was given.

    Elementwise only, so that its images do not depend on the batch size (a matmul's may, by an ulp).
    """

    def __init__(self) -> None:
        super().__init__()
        self.z_dim = 8
        self.gain = nn.Parameter(torch.tensor(0.9))
        self.seen_labels: list[int] = []

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if y is not None:
            self.seen_labels += y.tolist()
        return (torch.tanh(z[:, :6].repeat(1, 8)) * self.gain).view(-1, 3, 4, 4)


@pytest.mark.parametrize("latents", ["normal", "sobol"])
def test_module_latents_are_seeded_and_independent_of_the_batching(latents: str) -> None:
    g = TinyGenerator()
    whole = ModuleGenerator(g, 8, latents=latents, seed=5)
    one = whole(1030)  # spans two blocks of 1024
    parts = ModuleGenerator(g, 8, latents=latents, seed=5)
    chunked = torch.cat([parts(n) for n in (3, 1024, 3)])
    assert torch.equal(one, chunked) and parts.position == 1030
    jumped = ModuleGenerator(g, 8, latents=latents, seed=5)
    jumped.seek(1020)
    assert torch.equal(jumped(10), one[1020:1030])
    assert torch.equal(whole.latents(1020, 10), parts.latents(1020, 10))  # random access, backwards too
    assert torch.equal(whole.latents(0, 3), jumped.latents(0, 3))
    assert not torch.equal(ModuleGenerator(g, 8, latents=latents, seed=6)(4), one[:4])


def test_sobol_latents_are_normal_and_vary_less_than_random_ones() -> None:
    g = TinyGenerator()
    z = ModuleGenerator(g, 8, latents="sobol", seed=0).latents(0, 4096)
    assert bool(torch.isfinite(z).all())
    assert z.mean().abs() < 0.01 and (z.std() - 1).abs() < 0.02
    # The mean of 64 latents, over 30 seeds: Sobol's is far more stable than i.i.d. normals'.
    spread = {
        kind: torch.stack([ModuleGenerator(g, 8, latents=kind, seed=s).latents(0, 64).mean(0) for s in range(30)]).var()
        for kind in ("normal", "sobol")
    }
    assert spread["sobol"] < spread["normal"] / 5


def test_conditional_labels_cycle_or_follow_the_given_order() -> None:
    g = TinyGenerator()
    gen = ModuleGenerator(g, 8, num_classes=3)
    gen(4)
    gen(3)
    assert g.seen_labels == [0, 1, 2, 0, 1, 2, 0]
    g.seen_labels = []
    given = ModuleGenerator(g, 8, labels=[7, 5, 9])
    given(3)
    assert g.seen_labels == [7, 5, 9]
    with pytest.raises(InputError, match="labels: 3 labels given, but images up to 3 were asked for"):
        given(1)


def test_generator_source_of_a_module_uses_seek_and_declares_its_range(stand_in: nn.Module) -> None:
    g = TinyGenerator()
    assert generator_source(g, 9).image_range == (0.0, 1.0)  # the one default of every float input
    with pytest.raises(InputError, match=r"values in \[-1, 1\] \(tanh\)\? declare image_range=\(-1, 1\)"):
        inception_score.compute(generator_source(g, 9), network=stand_in, splits=1, progress=False)
    source = generator_source(g, 9, seed=1, batch_size=4, image_range=(-1, 1))
    assert source.image_range == (-1.0, 1.0) and source.name == "generator TinyGenerator"
    whole = torch.cat([b.images for b in source.batches(batch_size=5)])
    tail = torch.cat([b.images for b in source.batches(batch_size=5, start=6)])
    assert torch.equal(tail, whole[6:])
    score = inception_score.compute(source, network=stand_in, splits=1, bootstrap=0, progress=False)
    same = inception_score.compute(whole.numpy(), network=stand_in, splits=1, bootstrap=0, progress=False)
    assert score.num_images == 9 and score.mean == same.mean  # the images the source gives are what is scored
    with pytest.raises(InputError, match="needs z_dim"):
        generator_source(nn.Linear(3, 3), 4)
    with pytest.raises(OptionsError, match="options z_dim apply to nn.Module generators"):
        generator_source(lambda n: None, 4, z_dim=3)
    with pytest.raises(OptionsError, match="unknown generator option 'zdim'"):
        generator_source(g, 4, zdim=3)


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit is deprecated in recent torch
def test_load_generator_round_trips_torchscript_and_imports_functions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    g = nn.Sequential(nn.Linear(8, 48), nn.Tanh(), nn.Unflatten(1, (3, 4, 4))).eval()
    path = tmp_path / "g.pt"
    torch.jit.save(torch.jit.script(g), str(path))
    loaded = load_generator(str(path))
    z = torch.randn(2, 8)
    assert torch.equal(loaded(z), g(z))
    source = generator_source(loaded, 3, z_dim=8, image_range=(-1, 1))  # TorchScript: a generator of latents
    assert next(source.batches(batch_size=3)).images.shape == (3, 3, 4, 4)

    (tmp_path / "my_gen_module.py").write_text(
        "import numpy as np\ndef sample(n):\n    return np.zeros((n, 4, 4, 3), np.uint8)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_gen_module", raising=False)
    assert load_generator("my_gen_module:sample")(3).shape == (3, 4, 4, 3)
    assert load_generator(f"{tmp_path / 'my_gen_module.py'}:sample")(1).shape == (1, 4, 4, 3)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("missing/g.pt", "missing/g.pt: no such file"),
        ("g.pt", "g.pt: no such file"),
        ("nothing_like_this", "expected a TorchScript file .no such file here. or module:function"),
        ("no_such_module_xyz:sample", "cannot import module 'no_such_module_xyz' .ModuleNotFoundError"),
        ("broken_gen_module:sample", "cannot import module 'broken_gen_module' .ZeroDivisionError: division by zero"),
        ("my_gen_module2:nothere", "module 'my_gen_module2' has no attribute 'nothere'"),
        ("my_gen_module2:VALUE", "VALUE is a int; expected a function of n or an nn.Module"),
        ("notscript.pt", "notscript.pt: not a TorchScript file"),
        ("notscript.pt2", "notscript.pt2: torch.export archives are refused: loading one can run code stored in"),
    ],
)
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_load_generator_errors_are_one_line(
    spec: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "broken_gen_module.py").write_text("1 / 0\n")
    (tmp_path / "my_gen_module2.py").write_text("VALUE = 3\n")
    (tmp_path / "notscript.pt").write_bytes(b"not a zip at all\nsecond line")
    (tmp_path / "notscript.pt2").write_bytes(b"not a zip at all\nsecond line")
    for name in ("broken_gen_module", "my_gen_module2"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    with pytest.raises(InputError, match=message) as info:
        load_generator(spec)
    assert "\n" not in str(info.value)


def test_compute_takes_a_sample_function_and_the_cli_a_generator_spec(
    tmp_path: Path, checkpoint_path: Path, stand_in, capsys
) -> None:
    import json

    from inception_score.cli import main

    stored = make_images(6, (16, 16), seed=123)
    floats = torch.from_numpy(stored).permute(0, 3, 1, 2).float() / 127.5 - 1  # in [-1, 1]
    position = {"next": 0}

    def sample(n: int) -> torch.Tensor:
        out = floats[position["next"] : position["next"] + n]
        position["next"] += n
        return out

    via_api = inception_score.compute(
        sample, num_samples=6, image_range=(-1, 1), network=stand_in, splits=2, progress=False
    )
    assert via_api.mean == pytest.approx(
        inception_score.compute(stored, network=stand_in, splits=2, progress=False).mean, rel=1e-6
    )
    with pytest.raises(inception_score.InputError, match="give num_samples"):
        inception_score.compute(sample, network=stand_in, progress=False)

    module_file = tmp_path / "my_sampler.py"
    module_file.write_text(
        "import numpy as np\n"
        "rng = np.random.default_rng(0)\n"
        "def sample(n):\n"
        "    return rng.integers(0, 256, (n, 3, 16, 16), dtype=np.uint8)\n"
    )
    code = main(
        [
            "--generator",
            f"{module_file}:sample",
            "--num-samples",
            "4",
            "--splits",
            "2",
            "--weights",
            str(checkpoint_path),
            "--json",
            "--quiet",
            "--bootstrap",
            "0",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["num_images"] == 4
    assert main(["--generator", f"{module_file}:sample", "--weights", str(checkpoint_path)]) == 2
    assert "--num-samples: a generator needs to know how many images to draw" in capsys.readouterr().err


# ---------------------------------------------------------------- model files never run code


def payload_pickle(marker: Path) -> bytes:
    """A torch.save'd object whose unpickling runs ``touch marker``."""

    class Payload:
        def __reduce__(self) -> tuple:
            return (os.system, (f"touch {marker}",))

    buf = io.BytesIO()
    torch.save(Payload(), buf)
    return buf.getvalue()


def rewrite_zip(source: Path, target: Path, change) -> Path:
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, change(info.filename, src.read(info.filename)))
    return target


def exported_generator(tmp_path: Path, dynamic: bool = False) -> Path:
    g = nn.Sequential(nn.Linear(8, 48), nn.Tanh(), nn.Unflatten(1, (3, 4, 4))).eval()
    shapes = {"dynamic_shapes": ({0: torch.export.Dim("n")},)} if dynamic else {}
    path = tmp_path / "good.pt2"
    torch.export.save(torch.export.export(g, (torch.randn(2, 8),), **shapes), str(path))
    return path


REFUSED = (
    "torch.export archives are refused: loading one can run code stored in the file (torch.export.load unpickles "
    "it and evaluates its shape expressions); save the {role} with torch.jit.save(torch.jit.script(model), path), "
    "or load a file you trust in your own module and pass module:attribute"
)


@pytest.mark.parametrize("role", ["generator", "classifier"])
def test_torch_export_archive_with_a_pickled_payload_runs_nothing(role: str, tmp_path: Path) -> None:
    from inception_score.inputs.models import load_model

    marker = tmp_path / "PAYLOAD_RAN"
    evil = rewrite_zip(
        exported_generator(tmp_path),
        tmp_path / "evil.pt2",
        lambda name, data: payload_pickle(marker) if name.endswith("sample_inputs/model.pt") else data,
    )
    renamed = tmp_path / "evil.pt"  # recognised by content, not by name
    renamed.write_bytes(evil.read_bytes())
    for path in (evil, renamed):
        with pytest.raises(InputError) as err:
            load_model(str(path), role)
        assert str(err.value) == f"{path}: {REFUSED.format(role=role)}"
    assert not marker.exists()


def test_torch_export_archive_with_code_in_a_shape_expression_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "EXPRESSION_RAN"
    old = "Symbol('s31', positive=True, integer=True)"  # what a dynamic batch dimension looks like
    new = f"{old} + 0 * __import__('os').system('touch {marker}')"  # sympify evaluates it with eval

    def change(name: str, data: bytes) -> bytes:
        return data.replace(json.dumps(old).encode(), json.dumps(new).encode()) if name.endswith("model.json") else data

    good = exported_generator(tmp_path, dynamic=True)
    with zipfile.ZipFile(good) as zf:
        assert any(json.dumps(old).encode() in zf.read(n) for n in zf.namelist() if n.endswith("model.json"))
    evil = rewrite_zip(good, tmp_path / "sym.pt2", change)
    with pytest.raises(InputError) as err:
        load_generator(str(evil))
    assert str(err.value) == f"{evil}: {REFUSED.format(role='generator')}"
    assert not marker.exists()


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("member", ["data.pkl", "constants.pkl"])
def test_torchscript_file_with_a_pickled_payload_is_refused_by_torch(member: str, tmp_path: Path) -> None:
    marker = tmp_path / "PAYLOAD_RAN"
    g = nn.Sequential(nn.Linear(8, 48), nn.Tanh()).eval()
    torch.jit.save(torch.jit.script(g), str(tmp_path / "g.pt"))

    class Payload:
        def __reduce__(self) -> tuple:
            return (os.system, (f"touch {marker}",))

    evil = rewrite_zip(
        tmp_path / "g.pt",
        tmp_path / "evil.pt",
        lambda name, data: pickle.dumps(Payload(), protocol=2) if name.endswith("/" + member) else data,
    )
    with pytest.raises(InputError) as err:
        load_generator(str(evil))
    assert str(err.value) == (
        f"{evil}: not a TorchScript file (RuntimeError: Unknown type name 'posix.system':); "
        f"save one with torch.jit.save(torch.jit.script(model), path)"
    )
    assert not marker.exists()


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_torchscript_code_cannot_reach_python(tmp_path: Path) -> None:
    marker = tmp_path / "CODE_RAN"
    g = nn.Sequential(nn.Linear(8, 48), nn.Tanh()).eval()
    torch.jit.save(torch.jit.script(g), str(tmp_path / "g.pt"))
    call = f"__import__('os').system('touch {marker}')\n    return torch.tanh(input)"

    def change(name: str, data: bytes) -> bytes:
        return data.replace(b"return torch.tanh(input)", call.encode()) if name.endswith("activation.py") else data

    evil = rewrite_zip(tmp_path / "g.pt", tmp_path / "evil.pt", change)
    with pytest.raises(InputError) as err:
        load_generator(str(evil))
    assert str(err.value).startswith(f"{evil}: not a TorchScript file (RuntimeError: undefined value __import__:")
    assert not marker.exists()


def test_the_payloads_are_real_when_torch_export_load_reads_them(tmp_path: Path) -> None:
    """What the refusal above prevents: torch's own loader runs both payloads (each one a ``touch``)."""
    pickled, expression = tmp_path / "PICKLE_RAN", tmp_path / "EXPRESSION_RAN"
    evil = rewrite_zip(
        exported_generator(tmp_path),
        tmp_path / "evil.pt2",
        lambda name, data: payload_pickle(pickled) if name.endswith("sample_inputs/model.pt") else data,
    )
    with contextlib.suppress(Exception):
        torch.export.load(str(evil))
    assert pickled.exists()
    old = json.dumps("Symbol('s31', positive=True, integer=True)").encode()
    new = json.dumps(f"Symbol('s31', positive=True, integer=True) + 0 * __import__('os').system('touch {expression}')")
    sym = rewrite_zip(
        exported_generator(tmp_path, dynamic=True),
        tmp_path / "sym.pt2",
        lambda name, data: data.replace(old, new.encode()) if name.endswith("model.json") else data,
    )
    torch.export.load(str(sym))
    assert expression.exists()


def test_generator_options_reach_a_module_given_to_compute_and_are_refused_without_one(
    stand_in, tmp_path: Path
) -> None:
    """compute(G, z_dim=..., latents=..., seed=...) uses them (they were once ignored for a module
    given as the source), and generator-only options without a generator are errors, not no-ops."""
    torch.manual_seed(0)
    g = torch.nn.Sequential(torch.nn.Linear(8, 48), torch.nn.Unflatten(1, (3, 4, 4)), torch.nn.Tanh())
    run = dict(network=stand_in, num_samples=12, splits=1, progress=False, image_range=(-1, 1), bootstrap=0)
    normal = inception_score.compute(g, z_dim=8, **run)
    sobol = inception_score.compute(g, z_dim=8, latents="sobol", **run)
    reseeded = inception_score.compute(g, z_dim=8, seed=3, **run)
    assert normal.inception_score_mean != sobol.inception_score_mean
    assert normal.inception_score_mean != reseeded.inception_score_mean
    with pytest.raises(InputError, match="needs z_dim"):  # z_dim reached the module's wrapper
        inception_score.compute(g, **run)
    images = np.zeros((4, 8, 8, 3), dtype=np.uint8)
    for extra, message in (
        ({"num_samples": 4}, "^num_samples: got 4, but it is how many images to draw from a generator"),
        ({"z_dim": 8}, "^z_dim: only for an nn.Module generator"),
        ({"latents": "sobol"}, "^latents: only for an nn.Module generator"),
    ):
        with pytest.raises(OptionsError, match=message):
            inception_score.compute(images, network=stand_in, splits=1, progress=False, **extra)
