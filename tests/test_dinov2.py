"""DINOv2 ViT-L/14 (features/dinov2.py): EDM2's features from the official state-dict layout.

Oracle: facebookresearch's model code (``dinov2`` package) with EDM2's ``DINOv2Detector``
preprocessing, on the same random weights (tests/vit_checkpoints.py). Most tests use a tiny
backbone of the same code (width 128, 2 blocks); one loads the full ViT-L/14 layout.
"""

from __future__ import annotations

import dataclasses
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from inception_score.errors import WeightsError
from inception_score.features import dinov2 as dinov2_module
from inception_score.features.dinov2 import DINOv2, build_dinov2, dinov2_config, load_dinov2, prepare_dinov2
from inception_score.features.runner import cpu_bf16_units
from inception_score.features.weights import DINOV2_VITL14, locate_weights

from .vit_checkpoints import dinov2_reference, edm2_features, edm2_prepare, random_images


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, Path]:
    ref = dinov2_reference(small=True, seed=1)
    path = tmp_path_factory.mktemp("dinov2") / "tiny_dinov2.pth"
    torch.save(ref.state_dict(), path)
    return ref, path


def close(ours: torch.Tensor, reference: torch.Tensor, tol: float = 1e-4) -> float:
    """Largest difference relative to the largest reference feature; asserts it is within ``tol``."""
    error = float((ours - reference).abs().max() / reference.abs().max())
    assert error < tol, error
    return error


@pytest.mark.parametrize("mode", ["torch", "pil"])
def test_features_equal_edm2_on_images_of_several_sizes(tiny: tuple[torch.nn.Module, Path], mode: str) -> None:
    ref, path = tiny
    with pytest.warns(UserWarning, match="not ViT-L/14"):
        prepare, forward, found = build_dinov2(path, "cpu", "exact", resize=mode, progress=False)
    assert found.source == "argument" and len(found.sha256) == 64
    batch = random_images(3, (40, 56), seed=2)
    odd = [random_images(1, size, seed=3 + i)[0] for i, size in enumerate([(17, 300), (224, 224), (500, 31)])]
    ours = torch.cat([forward(prepare(batch)), forward(prepare(odd))])  # a batch, then a list of sizes
    expected = torch.cat([edm2_features(ref, batch, mode)] + [edm2_features(ref, im[None], mode) for im in odd])
    close(ours, expected)
    # the checkpoint is not degenerate: images have distinct features
    cosine = F.cosine_similarity(expected[:, None], expected[None], dim=-1)
    assert float(cosine.min()) < 0.9
    assert ours.shape == (6, 128) and ours.dtype == torch.float32


def test_prepare_equals_edm2_preprocessing_bit_for_bit() -> None:
    images = random_images(4, (37, 90), seed=5)
    for mode in ("torch", "pil"):
        assert torch.equal(prepare_dinov2(images, mode), edm2_prepare(images, mode))
    # at 224 x 224 both resizes leave the pixels as they are
    square = random_images(2, (224, 224), seed=6)
    assert torch.equal(prepare_dinov2(square, "torch"), prepare_dinov2(square, "pil"))


def test_prepare_refuses_other_modes_and_inputs() -> None:
    images = torch.zeros(1, 3, 8, 8, dtype=torch.uint8)
    with pytest.raises(ValueError, match="resize mode: got 'bilinear', expected one of torch, pil"):
        prepare_dinov2(images, "bilinear")
    with pytest.raises(ValueError, match="expected uint8 images"):
        prepare_dinov2(images.float())


def test_positions_are_interpolated_once_per_loaded_network(
    tiny: tuple[torch.nn.Module, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    ref, path = tiny
    calls = []
    real = F.interpolate

    def counting(*args: object, **kwargs: object) -> torch.Tensor:
        calls.append(kwargs.get("mode"))
        return real(*args, **kwargs)

    monkeypatch.setattr(dinov2_module.F, "interpolate", counting)
    net = DINOv2(dinov2_config(small=True))
    net.load_checkpoint(ref.state_dict())
    x = edm2_prepare(random_images(2, (224, 224)), "pil")
    with torch.no_grad():
        first = net(x)
        assert torch.equal(net(x), first)
        assert len(calls) == 1
        other = dinov2_reference(small=True, seed=9).state_dict()
        net.load_checkpoint(other)  # new weights: new positions
        assert not torch.equal(net(x), first)
        assert len(calls) == 2
    # DINO's arithmetic: a 37 x 37 grid to 16 x 16, scale (16 + 0.1) / 37, bicubic, no antialias
    pos = other["pos_embed"][:, 1:].reshape(1, 37, 37, -1).permute(0, 3, 1, 2)
    expected = real(pos, scale_factor=(16.1 / 37, 16.1 / 37), mode="bicubic", antialias=False)
    assert torch.equal(net.positions(16)[0, 1:], expected.permute(0, 2, 3, 1).reshape(256, -1))


@pytest.mark.slow  # full ViT-L size: `python -m pytest -m slow`
def test_full_vitl14_official_layout_loads_strictly_and_matches(tmp_path: Path) -> None:
    ref = dinov2_reference(small=False, seed=0)
    state = ref.state_dict()
    assert len(state) == 343 and sum(v.numel() for v in state.values()) == 304_368_640
    assert tuple(state["pos_embed"].shape) == (1, 1370, 1024)
    path = tmp_path / "dinov2_vitl14_pretrain.pth"
    torch.save(state, path)
    del state
    prepare, forward, found = build_dinov2(path, "cpu", "exact", progress=False)  # ViT-L/14: no warning
    images = [random_images(1, (96, 128), seed=11)[0], random_images(1, (300, 200), seed=12)[0]]
    ours = forward(prepare(images))
    expected = torch.cat([edm2_features(ref, im[None], "torch") for im in images])
    assert ours.shape == (2, 1024)
    close(ours, expected)


def test_fast_is_close_to_exact(tiny: tuple[torch.nn.Module, Path]) -> None:
    _, path = tiny
    with pytest.warns(UserWarning):
        prepare, exact, _ = build_dinov2(path, "cpu", "exact", progress=False)
        _, fast, _ = build_dinov2(path, "cpu", "fast", progress=False)
    x = prepare(random_images(4, (64, 64), seed=4))
    a, b = exact(x), fast(x)
    assert b.dtype == torch.float32 and b.shape == a.shape
    assert float(F.cosine_similarity(a, b).min()) > 0.999
    if cpu_bf16_units() is not None:
        assert not torch.equal(a, b)  # bfloat16 did run
    else:  # a CPU without bf16 units (or held below them): fast is float32, the same operations as exact
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-5)


def test_sdpa_and_explicit_softmax_attention_agree(tiny: tuple[torch.nn.Module, Path]) -> None:
    ref, _ = tiny
    net = DINOv2(dinov2_config(small=True)).eval()
    net.load_checkpoint(ref.state_dict())
    x = edm2_prepare(random_images(3, (50, 50)), "torch")
    with torch.no_grad():
        sdpa = net(x)
        for block in net.blocks:
            block.attn.math = True
        explicit = net(x)
    close(sdpa, explicit, 1e-5)


def test_batch_composition_does_not_change_features(tiny: tuple[torch.nn.Module, Path]) -> None:
    _, path = tiny
    with pytest.warns(UserWarning):
        prepare, forward, _ = build_dinov2(path, "cpu", "exact", progress=False)
    images = random_images(5, (30, 30), seed=8)
    together = forward(prepare(images))
    alone = torch.cat([forward(prepare(images[i : i + 1])) for i in range(5)])
    close(together, alone, 1e-5)


def test_layout_mismatches_are_one_line_errors(tiny: tuple[torch.nn.Module, Path], tmp_path: Path) -> None:
    ref, _ = tiny
    state = ref.state_dict()
    net = DINOv2(dinov2_config(small=True))
    broken = {k: v for k, v in state.items() if k != "blocks.1.ls2.gamma"}
    with pytest.raises(WeightsError, match=r"1 missing \(blocks\.1\.ls2\.gamma\)") as info:
        net.load_checkpoint(broken, origin="x.pth")
    assert "\n" not in str(info.value)
    with pytest.raises(WeightsError, match=r"1 unexpected \(head\.weight\)"):
        net.load_checkpoint({**state, "head.weight": torch.zeros(3)})
    with pytest.raises(WeightsError, match=r"wrong shape \(norm\.bias \(5,\) \(expected \(128,\)\)\)"):
        net.load_checkpoint({**state, "norm.bias": torch.zeros(5)})
    not_dinov2 = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, not_dinov2)
    with pytest.raises(WeightsError, match="Cannot load DINOv2 weights .*other.pth: no 'cls_token' tensor"):
        load_dinov2(not_dinov2)


# --------------------------------------------------------------------------- where the weights come from


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv(DINOV2_VITL14.env_var, raising=False)
    return tmp_path / "torch-home" / "hub" / "checkpoints"


def test_environment_variable_then_torch_hub_cache(tiny: tuple[torch.nn.Module, Path], home: Path, monkeypatch) -> None:
    _, path = tiny
    monkeypatch.setenv("INCEPTION_SCORE_DINOV2_WEIGHTS", str(path))
    assert locate_weights(None, DINOV2_VITL14).source == "environment"
    monkeypatch.setenv("INCEPTION_SCORE_DINOV2_WEIGHTS", str(path.parent / "missing.pth"))
    with pytest.raises(WeightsError, match="DINOv2 weights .*missing.pth .from environment variable "):
        locate_weights(None, DINOV2_VITL14)
    monkeypatch.delenv("INCEPTION_SCORE_DINOV2_WEIGHTS")
    home.mkdir(parents=True)
    (home / "dinov2_vitl14_pretrain.pth").write_bytes(path.read_bytes())  # where torch.hub puts it
    found = locate_weights(None, DINOV2_VITL14)
    assert found.source == "cache" and found.path == home / "dinov2_vitl14_pretrain.pth"


@pytest.fixture
def loopback(tiny: tuple[torch.nn.Module, Path]) -> Iterator[tuple[str, list[str]]]:
    body = tiny[1].read_bytes()
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            if self.path != "/dinov2_vitl14_pretrain.pth":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", requests
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_download_goes_to_the_torch_hub_cache_once(
    tiny: tuple[torch.nn.Module, Path], home: Path, loopback: tuple[str, list[str]]
) -> None:
    url, requests = loopback
    spec = dataclasses.replace(DINOV2_VITL14, urls=(f"{url}/dinov2_vitl14_pretrain.pth",))
    found = locate_weights(None, spec, progress=False)
    assert found.source == "download" and found.path == home / "dinov2_vitl14_pretrain.pth"
    assert found.path.read_bytes() == tiny[1].read_bytes() and list(home.iterdir()) == [found.path]
    assert locate_weights(None, spec, progress=False).source == "cache" and len(requests) == 1


def test_offline_message_says_where_to_put_the_file(home: Path, loopback: tuple[str, list[str]]) -> None:
    url, _ = loopback
    spec = dataclasses.replace(DINOV2_VITL14, urls=(f"{url}/gone.pth",))
    with pytest.raises(WeightsError) as info:
        locate_weights(None, spec, progress=False)
    message = str(info.value)
    assert "\n" not in message and "HTTP 404" in message
    assert f"save it as {home / 'dinov2_vitl14_pretrain.pth'}" in message
    assert "--dinov2-weights PATH (or set INCEPTION_SCORE_DINOV2_WEIGHTS)" in message
    assert not list(home.glob("*.pth"))
