"""CLIP ViT-L/14@336 image tower (features/clip.py): CMMD's embeddings from the Hugging Face file.

Oracle: transformers' ``CLIPVisionModelWithProjection`` with the CMMD reference's preprocessing,
on the same random weights saved as a Hugging Face ``model.safetensors`` (tests/vit_checkpoints.py;
the weights are spread so that unrelated images get distinct embeddings). Most tests use a tiny
tower of the same code; one the full ViT-L/14@336 layout with two images.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from inception_score.errors import WeightsError
from inception_score.features import clip as clip_module
from inception_score.features.clip import build_clip, load_clip, prepare_clip, read_hf_tensors
from inception_score.features.weights import CLIP_VITL14_336, locate_weights

from .vit_checkpoints import clip_reference, cmmd_prepare, random_images, save_clip_safetensors, transformers_embeddings


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, Path]:
    ref = clip_reference(small=True, seed=1)
    return ref, save_clip_safetensors(ref, tmp_path_factory.mktemp("clip") / "model.safetensors")


def hwc(images: list[torch.Tensor]) -> list[np.ndarray]:
    return [im.permute(1, 2, 0).numpy() for im in images]


def close(ours: torch.Tensor, reference: torch.Tensor, tol: float = 1e-4) -> float:
    error = float((ours - reference).abs().max())
    assert error < tol, error  # unit vectors: absolute = relative to the largest component's scale
    return error


@pytest.mark.parametrize("precision", ["exact", "fast"])
def test_embeddings_equal_transformers_with_cmmd_preprocessing(
    tiny: tuple[torch.nn.Module, Path], precision: str
) -> None:
    ref, path = tiny
    with pytest.warns(UserWarning, match="not ViT-L/14@336"):
        prepare, forward, found = build_clip(path, "cpu", precision, progress=False)
    assert found.source == "argument" and len(found.sha256) == 64
    images = [random_images(1, size, seed=i)[0] for i, size in enumerate([(40, 56), (336, 336), (301, 17), (64, 65)])]
    ours = forward(prepare(images))
    expected = transformers_embeddings(ref, hwc(images))
    assert ours.shape == (4, 32) and ours.dtype == torch.float32
    torch.testing.assert_close(ours.norm(dim=1), torch.ones(4))
    if precision == "exact":
        close(ours, expected)
        batch = random_images(3, (50, 70), seed=9)
        close(forward(prepare(batch)), transformers_embeddings(ref, hwc(list(batch))))
        cosine = expected @ expected.T
        assert float(cosine.min()) < 0.9  # spread: not the ~0.995 of a plain random init
    else:
        assert float(F.cosine_similarity(ours, expected).min()) > 0.999
        assert not torch.equal(ours, expected)


def test_centre_crop_and_resize_equal_cmmd_bit_for_bit() -> None:
    images = [random_images(1, size, seed=i)[0] for i, size in enumerate([(41, 90), (90, 41), (336, 336), (7, 8)])]
    ours = prepare_clip(images).permute(0, 2, 3, 1).numpy()
    expected = np.stack([cmmd_prepare(im) for im in hwc(images)])
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-6)  # /255 then mean/std: float32 either way
    assert torch.equal(prepare_clip(torch.stack(images[:1])), prepare_clip(images[:1]))


def test_grayscale_images_equal_cmmds_l_mode_resize_tiled() -> None:
    """A grayscale file arrives here as RGB with three equal channels; CMMD resizes it in 'L' mode and
    tiles it. PIL treats each RGB channel as an 'L' image: the same pixels, the same input."""
    rng = np.random.default_rng(3)
    for h, w in [(57, 93), (400, 336), (12, 12)]:
        gray = rng.integers(0, 256, (h, w), dtype=np.uint8)
        l_mode = Image.fromarray(gray, "L").resize((336, 336), Image.Resampling.BICUBIC)
        rgb = Image.fromarray(np.repeat(gray[..., None], 3, axis=2), "RGB").resize((336, 336), Image.Resampling.BICUBIC)
        assert np.array_equal(np.asarray(rgb), np.repeat(np.asarray(l_mode)[..., None], 3, axis=2))
        tiled = torch.from_numpy(np.repeat(gray[None], 3, axis=0))
        np.testing.assert_allclose(prepare_clip([tiled])[0].permute(1, 2, 0).numpy(), cmmd_prepare(gray), atol=1e-6)


def test_only_the_image_tower_is_read(tiny: tuple[torch.nn.Module, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    _, path = tiny
    read: list[str] = []
    real_open = clip_module._open_safetensors

    class Recording:
        def __init__(self, handle: object) -> None:
            self.handle = handle

        def __enter__(self) -> Recording:
            self.inner = self.handle.__enter__()  # type: ignore[attr-defined]
            return self

        def __exit__(self, *args: object) -> None:
            self.handle.__exit__(*args)  # type: ignore[attr-defined]

        def keys(self) -> list[str]:
            return list(self.inner.keys())

        def get_tensor(self, key: str) -> torch.Tensor:
            read.append(key)
            return self.inner.get_tensor(key)

    monkeypatch.setattr(clip_module, "_open_safetensors", lambda p: Recording(real_open(p)))
    config, tensors = read_hf_tensors(path)
    assert read and all(k.startswith(("vision_model.", "visual_projection.")) for k in read)
    assert "vision_model.embeddings.position_ids" not in read
    assert config.depth == 2 and len(tensors) == 8 + 2 * 12


@pytest.mark.slow  # full ViT-L size: `python -m pytest -m slow`
def test_full_vit_l14_336_layout_matches_transformers(tmp_path: Path) -> None:
    ref = clip_reference(small=False, seed=0)
    path = save_clip_safetensors(ref, tmp_path / "model.safetensors")
    prepare, forward, _ = build_clip(path, "cpu", "exact", progress=False)  # ViT-L/14@336: no warning
    images = [random_images(1, (120, 90), seed=21)[0], random_images(1, (336, 400), seed=22)[0]]
    ours = forward(prepare(images))
    assert ours.shape == (2, 768)
    close(ours, transformers_embeddings(ref, hwc(images)))


def test_files_that_are_not_the_layout_are_one_line_errors(tiny: tuple[torch.nn.Module, Path], tmp_path: Path) -> None:
    ref, _ = tiny
    state = ref.state_dict()
    from safetensors.torch import save_file

    missing = {k: v for k, v in state.items() if "layers.1.self_attn.k_proj.bias" not in k}
    save_file(missing, str(tmp_path / "missing.safetensors"))
    with pytest.raises(WeightsError, match=r"1 missing \(vision_model\.encoder\.layers\.1\.self_attn\.k_proj\.bias\)"):
        load_clip(tmp_path / "missing.safetensors")
    save_file({**state, "vision_model.extra.weight": torch.zeros(2)}, str(tmp_path / "extra.safetensors"))
    with pytest.raises(WeightsError, match=r"1 unexpected \(vision_model\.extra\.weight\)"):
        load_clip(tmp_path / "extra.safetensors")
    bad = {**state, "visual_projection.weight": torch.full((32, 128), float("nan"))}
    save_file(bad, str(tmp_path / "nan.safetensors"))
    with pytest.raises(WeightsError, match="tensor visual_projection.weight holds NaN or inf"):
        load_clip(tmp_path / "nan.safetensors")
    # OpenAI's ViT-L-14-336px.pt is a TorchScript archive: refused without running anything
    scripted = tmp_path / "ViT-L-14-336px.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(scripted))
    assert zipfile.is_zipfile(scripted)
    with pytest.raises(
        WeightsError, match="TorchScript archive .*refused; expected the Hugging Face model.safetensors"
    ):
        load_clip(scripted)
    torch.save(state, tmp_path / "pytorch_model.bin")
    with pytest.raises(WeightsError, match="PyTorch checkpoint .*not a .safetensors file") as info:
        load_clip(tmp_path / "pytorch_model.bin")
    assert "\n" not in str(info.value)
    (tmp_path / "junk.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(WeightsError, match="safetensors cannot read it"):
        load_clip(tmp_path / "junk.safetensors")


def test_missing_safetensors_names_the_extra(
    tiny: tuple[torch.nn.Module, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import builtins

    real_import = builtins.__import__

    def no_safetensors(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("safetensors"):
            raise ImportError("No module named 'safetensors'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_safetensors)
    hint = r"need the safetensors package: pip install 'safetensors>=0\.4' \(or the 'clip' extra"
    with pytest.raises(WeightsError, match=hint):
        load_clip(tiny[1])


def test_found_in_the_hugging_face_cache(tiny: tuple[torch.nn.Module, Path], tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(CLIP_VITL14_336.env_var, raising=False)
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    repo = tmp_path / "hf" / "hub" / "models--openai--clip-vit-large-patch14-336"
    for snapshot in ("old0", "abc1"):
        (repo / "snapshots" / snapshot).mkdir(parents=True)
        (repo / "snapshots" / snapshot / "model.safetensors").write_bytes(tiny[1].read_bytes() + snapshot.encode())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc1")
    found = locate_weights(None, CLIP_VITL14_336)
    assert found.source == "cache" and found.path == repo / "snapshots" / "abc1" / "model.safetensors"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "elsewhere"))  # HF_HUB_CACHE wins over HF_HOME
    monkeypatch.setenv("INCEPTION_SCORE_CLIP_WEIGHTS", str(tiny[1]))
    assert locate_weights(None, CLIP_VITL14_336).source == "environment"
    monkeypatch.delenv("INCEPTION_SCORE_CLIP_WEIGHTS")
    monkeypatch.setattr("urllib.request.urlopen", lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))
    with pytest.raises(WeightsError) as info:
        locate_weights(None, CLIP_VITL14_336, progress=False)
    message = str(info.value)
    assert "CLIP weights not found" in message and "openai--clip-vit-large-patch14-336--model.safetensors" in message
    assert "--clip-weights PATH (or set INCEPTION_SCORE_CLIP_WEIGHTS)" in message
