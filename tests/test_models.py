"""Tests for rethinkmmc.models (trunks, Classifier wrapper, helpers)."""

from __future__ import annotations


import pytest
import torch
from torch import nn

from rethinkmmc.models import (
    ARCHS,
    Classifier,
    PreActResNet,
    ResNetV2Keras,
    SmallCNN,
    conv_kernels,
    count_layers,
    make_trunk,
)


class CenterHead(nn.Module):
    """Minimal MMC-like test head: logits = -||z - mu_y||^2 with fixed centers."""

    def __init__(self, centers: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("centers", centers)
        self.num_classes = centers.shape[0]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return -torch.cdist(z, self.centers).pow(2)


class DtypeRecordingHead(nn.Linear):
    """Linear head remembering the dtype and autocast state it ran with."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        self.seen_dtype = z.dtype
        self.seen_autocast = torch.is_autocast_enabled("cpu")
        return super().forward(z)


def _model(arch, in_channels, feat_dim=16, num_classes=10, **kw):
    torch.manual_seed(0)
    trunk = make_trunk(arch, in_channels=in_channels, feat_dim=feat_dim, **kw)
    return trunk, nn.Linear(feat_dim, num_classes)


# -- shapes ----------------------------------------------------------------

SHAPE_CASES = [
    # arch, image shape (C,H,W), trunk in_channels, repeat_channels, kwargs
    ("resnet_v2", (3, 32, 32), 3, 1, {"depth_n": 1}),
    ("resnet_v2", (1, 28, 28), 3, 3, {"depth_n": 1}),
    ("preact_resnet", (3, 32, 32), 3, 1, {"depth_n": 1}),
    ("preact_resnet", (1, 28, 28), 1, 1, {"depth_n": 1}),
    ("small_cnn", (1, 8, 8), 1, 1, {}),
    ("small_cnn", (1, 28, 28), 1, 1, {}),
    ("small_cnn", (3, 32, 32), 3, 1, {}),
]


@pytest.mark.parametrize("arch,shape,in_ch,rep,kw", SHAPE_CASES)
def test_feature_and_logit_shapes(arch, shape, in_ch, rep, kw):
    trunk, head = _model(arch, in_ch, feat_dim=12, num_classes=7, **kw)
    model = Classifier(trunk, head, mean=torch.rand(shape), repeat_channels=rep).eval()
    x = torch.rand(4, *shape)
    z = model.features(x)
    assert z.shape == (4, 12)
    assert z.dtype == torch.float32
    out = model(x)
    assert out.shape == (4, 7)
    assert torch.equal(model.head(z), out)
    assert model.feat_dim == 12
    assert model.num_classes == 7


def test_resnet_v2_default_is_paper_resnet32_on_cifar():
    trunk = ResNetV2Keras()  # n=5, feat_dim=256
    assert trunk.feat_dim == 256
    model = Classifier(trunk, nn.Linear(256, 10)).eval()
    with torch.no_grad():
        assert model.features(torch.rand(2, 3, 32, 32)).shape == (2, 256)


def test_small_cnn_two_dimensional_features():
    model = Classifier(SmallCNN(feat_dim=2), nn.Linear(2, 10)).eval()
    assert model.features(torch.rand(3, 1, 8, 8)).shape == (3, 2)


# -- architecture details ----------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_resnet_v2_layer_count_is_9n_plus_2(n):
    assert count_layers(ResNetV2Keras(n=n)) == 9 * n + 2


def test_resnet_v2_n5_has_47_layers():
    assert count_layers(ResNetV2Keras(n=5)) == 47


@pytest.mark.parametrize("n,depth", [(1, 8), (3, 20), (5, 32)])
def test_preact_layer_count_is_6n_plus_2(n, depth):
    assert count_layers(PreActResNet(n=n)) == depth


def test_small_cnn_layer_count():
    assert count_layers(SmallCNN()) == 4  # 3 convs + 1 linear


def test_resnet_v2_stage_widths_and_resolutions():
    trunk = ResNetV2Keras(n=2).eval()
    outs = []
    hooks = [
        trunk.units[i].register_forward_hook(lambda m, i, o: outs.append(o.shape))
        for i in (1, 3, 5)  # last unit of each stage
    ]
    with torch.no_grad():
        trunk(torch.rand(1, 3, 32, 32))
    for h in hooks:
        h.remove()
    assert [s[1] for s in outs] == [64, 128, 256]
    assert [s[-1] for s in outs] == [32, 16, 8]
    assert trunk.out_channels == 256


def test_resnet_v2_mnist_resolutions():
    trunk = ResNetV2Keras(n=1).eval()
    outs = []
    for u in trunk.units:
        u.register_forward_hook(lambda m, i, o: outs.append(o.shape[-1]))
    with torch.no_grad():
        trunk(torch.rand(1, 3, 28, 28))
    assert outs == [28, 14, 7]


def test_resnet_v2_keras_structure():
    trunk = ResNetV2Keras(n=2)
    first, second = trunk.units[0], trunk.units[1]
    # First unit of stage 0 has no BN-ReLU before its first conv (stem's applies).
    assert first.bn1 is None and second.bn1 is not None
    # Projection shortcut only in each stage's first unit, stride on the 1x1s.
    shortcuts = [u.shortcut is not None for u in trunk.units]
    assert shortcuts == [True, False] * 3
    assert trunk.units[2].conv1.stride == (2, 2)
    assert trunk.units[2].shortcut.stride == (2, 2)
    assert trunk.units[0].conv1.stride == (1, 1)
    # Bottleneck mid widths follow Keras' num_filters_in: 16, 64, 128.
    assert [trunk.units[i].conv2.out_channels for i in (0, 2, 4)] == [16, 64, 128]
    # Convs have biases initialised to zero; BN weight 1, bias 0.
    for m in trunk.modules():
        if isinstance(m, nn.Conv2d):
            assert m.bias is not None and torch.all(m.bias == 0)
        if isinstance(m, nn.BatchNorm2d):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)


def test_resnet_v2_he_normal_init_scale():
    torch.manual_seed(0)
    trunk = ResNetV2Keras(n=1)
    w = trunk.units[-1].conv2.weight  # 3x3, 128 -> 128, fan_in 1152
    expected = (2.0 / (128 * 9)) ** 0.5
    assert abs(w.std().item() / expected - 1) < 0.05


def test_conv_kernels_lists_conv_weights_only():
    trunk = ResNetV2Keras(n=1)
    kernels = conv_kernels(trunk)
    convs = [m for m in trunk.modules() if isinstance(m, nn.Conv2d)]
    assert len(kernels) == len(convs) == 9 * 1 + 1 + 3  # + 3 shortcuts
    assert all(k.dim() == 4 for k in kernels)
    ids = {id(k) for k in kernels}
    assert id(trunk.dense.weight) not in ids
    assert all(id(m.bias) not in ids for m in convs)


# -- Classifier semantics ------------------------------------------------------


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_mean_is_subtracted(arch):
    trunk, head = _model(arch, 3, depth_n=1 if arch != "small_cnn" else None)
    mean = torch.rand(3, 16, 16)
    with_mean = Classifier(trunk, head, mean=mean).eval()
    zero_mean = Classifier(trunk, head).eval()
    with torch.no_grad():
        a = with_mean.features(mean.expand(2, 3, 16, 16))
        b = zero_mean.features(torch.zeros(2, 3, 16, 16))
        c = zero_mean.features(mean.expand(2, 3, 16, 16))
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


def test_mean_is_a_saved_buffer_and_none_loads_a_real_mean():
    trunk, head = _model("small_cnn", 1)
    mean = torch.rand(1, 8, 8)
    src = Classifier(trunk, head, mean=mean)
    assert "mean" in src.state_dict()
    assert not any(p is src.mean for p in src.parameters())
    trunk2, head2 = _model("small_cnn", 1)
    dst = Classifier(trunk2, head2)  # mean=None -> scalar placeholder
    assert dst.mean.shape == ()
    dst.load_state_dict(src.state_dict())
    assert torch.equal(dst.mean, mean)


def test_bad_mean_shape():
    trunk, head = _model("small_cnn", 1)
    with pytest.raises(ValueError, match="mean"):
        Classifier(trunk, head, mean=torch.zeros(1, 1, 8, 8, 1))


@pytest.mark.parametrize("arch", ["resnet_v2", "preact_resnet", "small_cnn"])
def test_repeat_channels_equals_feeding_repeated_image(arch):
    kw = {} if arch == "small_cnn" else {"depth_n": 1}
    trunk, head = _model(arch, 3, **kw)
    mean1 = torch.rand(1, 28, 28)
    gray = Classifier(trunk, head, mean=mean1, repeat_channels=3).eval()
    rgb = Classifier(trunk, head, mean=mean1.repeat(3, 1, 1)).eval()
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(gray.features(x), rgb.features(x.repeat(1, 3, 1, 1)))


def test_repeat_channels_gradient_is_per_real_pixel():
    trunk, head = _model("resnet_v2", 3, depth_n=1)
    model = Classifier(trunk, head, repeat_channels=3).eval()
    x = torch.rand(2, 1, 28, 28, requires_grad=True)
    model(x).sum().backward()
    assert x.grad.shape == (2, 1, 28, 28)


def test_repeat_channels_rejects_multichannel_input_and_bad_value():
    trunk, head = _model("small_cnn", 3)
    model = Classifier(trunk, head, repeat_channels=3)
    with pytest.raises(ValueError, match="repeat_channels"):
        model(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="repeat_channels"):
        Classifier(trunk, head, repeat_channels=0)


def test_centers_property():
    trunk, head = _model("small_cnn", 1, feat_dim=4)
    assert Classifier(trunk, head).centers is None
    centers = torch.randn(10, 4)
    model = Classifier(trunk, CenterHead(centers))
    assert model.centers is model.head.centers
    assert torch.equal(model.centers, centers)
    assert model.num_classes == 10
    assert model(torch.rand(2, 1, 8, 8)).shape == (2, 10)


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_gradient_reaches_input(arch):
    kw = {} if arch == "small_cnn" else {"depth_n": 1}
    trunk, head = _model(arch, 3, **kw)
    model = Classifier(trunk, head, mean=torch.full((3, 16, 16), 0.5)).eval()
    x = torch.rand(2, 3, 16, 16, requires_grad=True)
    model(x)[:, 0].sum().backward()
    assert x.grad is not None
    assert x.grad.abs().sum() > 0


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_eval_mode_is_deterministic(arch):
    kw = {} if arch == "small_cnn" else {"depth_n": 1}
    trunk, head = _model(arch, 3, **kw)
    model = Classifier(trunk, head).eval()
    x = torch.rand(3, 3, 16, 16)
    with torch.no_grad():
        a, b = model(x), model(x)
        # A sample's output must not depend on the rest of the batch in eval.
        c = model(x[:1])
    assert torch.equal(a, b)
    torch.testing.assert_close(a[:1], c)


def test_amp_dtype_runs_the_trunk_in_bf16_on_cpu_and_the_head_in_fp32():
    """rethinkmmc.speed's bf16 trick on a CPU: the trunk computes in bf16 (its features differ
    from fp32's at bf16's precision), the features and logits come back float32."""
    torch.manual_seed(0)
    head = DtypeRecordingHead(8, 10)
    model = Classifier(SmallCNN(feat_dim=8), head).eval()
    x = torch.rand(4, 1, 8, 8)
    with torch.no_grad():
        ref = model.features(x)
        model.amp_dtype = torch.bfloat16
        z, out = model.features(x), model(x)
    assert z.dtype == out.dtype == torch.float32 and head.seen_dtype == torch.float32
    assert not torch.equal(z, ref)  # the trunk did run in bf16
    torch.testing.assert_close(z, ref, rtol=5e-2, atol=5e-2)
    model.amp_dtype = None
    with torch.no_grad():
        assert torch.equal(model.features(x), ref)


def test_head_runs_in_float32_without_autocast():
    torch.manual_seed(0)
    head = DtypeRecordingHead(8, 10)
    model = Classifier(SmallCNN(feat_dim=8), head).eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        z = model.features(torch.rand(2, 1, 8, 8))
        out = model(torch.rand(2, 1, 8, 8))
    assert z.dtype == torch.float32
    assert out.dtype == torch.float32
    assert head.seen_dtype == torch.float32
    assert head.seen_autocast is False


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_bf16_trunk_autocast_on_cuda():
    torch.manual_seed(0)
    head = DtypeRecordingHead(16, 10)
    model = Classifier(ResNetV2Keras(n=1, feat_dim=16), head).cuda().eval()
    model.amp_dtype = torch.bfloat16
    x = torch.rand(2, 3, 32, 32, device="cuda")
    with torch.no_grad():
        z = model.features(x)
        out = model(x)
        model.amp_dtype = None
        ref = model.features(x)
    assert z.dtype == torch.float32 and out.dtype == torch.float32
    assert head.seen_dtype == torch.float32
    torch.testing.assert_close(z, ref, rtol=0.1, atol=0.1)


# -- factory errors -------------------------------------------------------------


def test_make_trunk_types_and_defaults():
    assert isinstance(make_trunk("resnet_v2", 3, 256), ResNetV2Keras)
    assert make_trunk("resnet_v2", 3, 256).n == 5
    assert isinstance(make_trunk("preact_resnet", 3, 64), PreActResNet)
    assert make_trunk("preact_resnet", 3, 64).n == 3
    assert count_layers(make_trunk("preact_resnet", 3, 64, depth_n=5)) == 32
    small = make_trunk("small_cnn", 1, 2, width=8)
    assert isinstance(small, SmallCNN) and small.feat_dim == 2
    assert make_trunk("preact_resnet", 3, 64, width=8).out_channels == 32


def test_unknown_arch_names_field_and_choices():
    expected = r"arch: unknown 'foo' \(allowed: preact_resnet, resnet_v2, small_cnn\)"
    with pytest.raises(ValueError, match=expected):
        make_trunk("foo", 3, 256)


@pytest.mark.parametrize("arch", ["resnet_v2", "preact_resnet"])
@pytest.mark.parametrize("bad", [0, -1])
def test_bad_depth_names_field(arch, bad):
    with pytest.raises(ValueError, match="depth_n"):
        make_trunk(arch, 3, 256, depth_n=bad)


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_bad_feat_dim_and_width_name_field(arch):
    with pytest.raises(ValueError, match="feat_dim"):
        make_trunk(arch, 3, 0)
    with pytest.raises(ValueError, match="width"):
        make_trunk(arch, 3, 16, width=0)
    with pytest.raises(ValueError, match="in_channels"):
        make_trunk(arch, 0, 16)


def test_direct_constructor_validation():
    with pytest.raises(ValueError, match="depth_n"):
        ResNetV2Keras(n=0)
    with pytest.raises(ValueError, match="feat_dim"):
        SmallCNN(feat_dim=0)


# -- speed ------------------------------------------------------------------------
