"""The TF1 resize is bit-identical to torch-fidelity's on CPU, for any size, batched or not."""

from __future__ import annotations

import pytest
import torch
from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

from inception_score.features.preprocess import normalize, preprocess, resize_tf1_bilinear

SIZES = [(1, 1), (7, 3), (32, 32), (64, 100), (299, 299), (300, 301), (512, 384), (640, 17), (1000, 1000)]


@pytest.mark.parametrize("size", SIZES)
def test_resize_is_bit_exact_against_torch_fidelity(size: tuple[int, int]) -> None:
    images = torch.randint(0, 256, (2, 3, *size), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    ours = resize_tf1_bilinear(images.float())
    theirs = interpolate_bilinear_2d_like_tensorflow1x(images.float(), size=(299, 299), align_corners=False)
    assert ours.shape == (2, 3, 299, 299)
    assert torch.equal(ours, theirs)


def test_tf1_semantics_on_a_known_case() -> None:
    # TF1 (align_corners=False, no half-pixel centres): src = dst * in/out, edge clamped.
    row = torch.tensor([[[[0.0, 10.0]]]])
    out = resize_tf1_bilinear(row.expand(1, 1, 2, 2).contiguous(), size=4)
    assert out[0, 0, 0].tolist() == [0.0, 5.0, 10.0, 10.0]


def test_normalize_matches_the_graph_constant() -> None:
    x = torch.arange(256, dtype=torch.float32)
    assert torch.equal(normalize(x), (x - 128) * torch.tensor(0.0078125))
    assert normalize(x).min() == -1.0 and normalize(x).max() == 127 / 128


def test_preprocess_output_values_are_the_graphs() -> None:
    # At 299 x 299 the resize is the identity, so preprocess() is (x - 128) * 0.0078125 exactly.
    flat = torch.stack([torch.full((3, 299, 299), v, dtype=torch.uint8) for v in (0, 128, 255)])
    out = preprocess(flat)
    assert out.dtype == torch.float32 and out.shape == (3, 3, 299, 299)
    assert [out[i].unique().tolist() for i in range(3)] == [[-1.0], [0.0], [127 / 128]]
    images = torch.randint(0, 256, (2, 3, 299, 299), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    assert torch.equal(preprocess(images), (images.float() - 128) * 0.0078125)
    assert torch.equal(preprocess(list(images)), preprocess(images))  # the list path normalises alike
    # and after a resize: the same as torch-fidelity's resize followed by the graph's constants
    small = images[:, :, :40, :50]
    resized = interpolate_bilinear_2d_like_tensorflow1x(small.float(), size=(299, 299), align_corners=False)
    assert torch.equal(preprocess(small), (resized - 128) * 0.0078125)


def test_mixed_sizes_give_the_same_as_one_at_a_time() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 256, (3, 40, 50), dtype=torch.uint8, generator=g)
    b = torch.randint(0, 256, (3, 300, 200), dtype=torch.uint8, generator=g)
    both = preprocess([a, b])
    assert torch.equal(both[0], preprocess(a.unsqueeze(0))[0])
    assert torch.equal(both[1], preprocess(b.unsqueeze(0))[0])


def test_preprocess_refuses_floats_and_wrong_channels() -> None:
    with pytest.raises(ValueError, match="uint8"):
        preprocess(torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match="N x 3 x H x W"):
        preprocess(torch.zeros(1, 4, 8, 8, dtype=torch.uint8))
