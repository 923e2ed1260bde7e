"""Networks for the reproduction of Pang et al. (2020).

Pang, Xu, Dong, Du, Chen & Zhu, "Rethinking Softmax Cross-Entropy Loss for
Adversarial Robustness", ICLR 2020. The reference implementation
(P2333/Max-Mahalanobis-Training, Keras) trains the "resnet_v2" network of the
Keras CIFAR-10 example: a pre-activation bottleneck ResNet (He, Zhang, Ren &
Sun, "Identity Mappings in Deep Residual Networks", ECCV 2016) whose 256-d
output of a final Dense layer is the feature vector z fed to the loss head
(softmax cross-entropy, SCE, or the Max-Mahalanobis center loss, MMC).

This module has two parts:

* :class:`Classifier` wraps a *trunk* (image -> features z) and a *head*
  (z -> logits). It takes pixels in [0, 1] and subtracts the per-pixel
  training mean itself, so adversarial attacks can work in pixel space.
* Trunks: :class:`ResNetV2Keras` (the faithful port used by the paper),
  :class:`PreActResNet` (a basic-block pre-activation ResNet, He et al. 2016)
  and :class:`SmallCNN` (a tiny net for scikit-learn's 8x8 digits), built by
  name with :func:`make_trunk`.

Helpers: :func:`conv_kernels` (the parameters the original L2-regularises) and
:func:`count_layers` (the depth as the papers count it).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "ARCHS",
    "Classifier",
    "PreActResNet",
    "ResNetV2Keras",
    "SmallCNN",
    "conv_kernels",
    "count_layers",
    "make_trunk",
]

# Keras BatchNormalization defaults: epsilon 1e-3, moving average
# ``moving = 0.99 * moving + 0.01 * batch``. PyTorch's ``momentum`` is the
# weight of the *new* batch statistic, so Keras' 0.99 is PyTorch's 0.01.
KERAS_BN_EPS = 1e-3
KERAS_BN_MOMENTUM = 0.01

# Name given to every projection-shortcut conv. ``count_layers`` skips modules
# with this name, because the papers' depths (9n+2, 6n+2) do not count them.
_SHORTCUT = "shortcut"


# ---------------------------------------------------------------------------
# Validation helpers
# ---------------------------------------------------------------------------


def _check_positive_int(field: str, value: object) -> int:
    """Return ``value`` if it is an int >= 1, else raise a ValueError naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{field}: expected a positive integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{field}: must be >= 1, got {value}")
    return value


# ---------------------------------------------------------------------------
# Classifier wrapper
# ---------------------------------------------------------------------------


class Classifier(nn.Module):
    """Trunk + head classifier on [0, 1] pixels, as used by Pang et al. (2020).

    ``forward(x)`` computes ``head(features(x))``, where

    1. ``x`` (B, C, H, W) holds pixels in [0, 1];
    2. the per-pixel training mean ``mean`` (shape (C, H, W), a buffer saved in
       the state dict) is subtracted *inside* the model. The original
       Keras code subtracts it in the data pipeline; doing it here keeps
       attacks (FGSM, PGD, ...) and their epsilon in pixel space, with the
       [0, 1] box constraint meaningful;
    3. if ``repeat_channels > 1`` the single-channel (grayscale) input is
       then repeated to that many channels. The original feeds MNIST to its
       3-channel ResNet as three identical copies; repeating inside the model
       keeps one perturbation value per real pixel (the gradient of the
       copies is summed back onto that pixel);
    4. ``features(x) = trunk(prepared x)`` is the penultimate feature vector
       z (B, feat_dim), always returned as float32;
    5. the head maps z to logits (B, L): for SCE a linear layer, for MMC the
       negative squared distances to the fixed Max-Mahalanobis centers.

    Mixed precision: set ``model.amp_dtype = torch.bfloat16`` to run the
    *trunk only* under ``torch.autocast`` on the input's device (CUDA, or a
    CPU: fast with AVX512-BF16/AMX, see rethinkmmc.speed). The head always runs in float32 with autocast
    disabled, even inside an outer autocast region: MMC logits are squared
    distances of order 1e2..1e4, and bf16's 8-bit mantissa would round
    nearby distances together and lose their argmin.

    Args:
        trunk: module mapping the prepared image to (B, feat_dim) features.
        head: module mapping features to (B, num_classes) logits. If it has a
            ``centers`` attribute (MMC), :attr:`centers` exposes it.
        mean: per-pixel training mean of shape (C, H, W) (or anything that
            broadcasts against (B, C, H, W)); ``None`` means no subtraction
            (a scalar zero buffer, resized on ``load_state_dict`` if the
            checkpoint holds a real mean).
        repeat_channels: if > 1, the input must have one channel, which is
            repeated to this many channels after mean subtraction.
    """

    def __init__(
        self,
        trunk: nn.Module,
        head: nn.Module,
        mean: torch.Tensor | None = None,
        repeat_channels: int = 1,
    ) -> None:
        super().__init__()
        _check_positive_int("repeat_channels", repeat_channels)
        self.trunk = trunk
        self.head = head
        self.repeat_channels = repeat_channels
        if mean is None:
            # Shape unknown: a scalar zero subtracts nothing and broadcasts.
            mean_buf = torch.zeros(())
        else:
            mean_buf = torch.as_tensor(mean).detach().clone().float()
            if mean_buf.dim() > 3:
                raise ValueError(
                    f"mean: expected shape (C, H, W), got {tuple(mean_buf.shape)}"
                )
        self.register_buffer("mean", mean_buf)
        # Autocast dtype for the trunk (e.g. torch.bfloat16); None = off (rethinkmmc.speed).
        self.amp_dtype: torch.dtype | None = None

    # -- properties ---------------------------------------------------------

    @property
    def centers(self) -> torch.Tensor | None:
        """The head's class centers (L, d) for MMC heads, else None."""
        return getattr(self.head, "centers", None)

    @property
    def feat_dim(self) -> int | None:
        """Dimension d of the features z (from ``trunk.feat_dim``)."""
        return getattr(self.trunk, "feat_dim", None)

    @property
    def num_classes(self) -> int | None:
        """Number of classes L (``head.num_classes``, or a Linear's ``out_features``)."""
        n = getattr(self.head, "num_classes", None)
        if n is None:
            n = getattr(self.head, "out_features", None)
        return n

    # -- computation --------------------------------------------------------

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Subtract the training mean and repeat channels (pixel space -> trunk input)."""
        x = x - self.mean
        if self.repeat_channels > 1:
            if x.shape[1] != 1:
                raise ValueError(
                    f"repeat_channels: input must have 1 channel to repeat, "
                    f"got {x.shape[1]}"
                )
            x = x.repeat(1, self.repeat_channels, 1, 1)
        return x

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features z = trunk(prepared x), shape (B, feat_dim), float32."""
        x = self.prepare(x)
        if self.amp_dtype is not None:
            with torch.autocast(x.device.type, dtype=self.amp_dtype):
                z = self.trunk(x)
        else:
            z = self.trunk(x)
        return z.float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``head(features(x))``; the head runs in float32 without autocast."""
        z = self.features(x)
        with torch.autocast(device_type=z.device.type, enabled=False):
            return self.head(z)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # A model built with mean=None holds a scalar placeholder; let it take
        # the shape of a checkpoint's real mean instead of failing on shape.
        key = prefix + "mean"
        if key in state_dict and state_dict[key].shape != self.mean.shape:
            self.mean = torch.zeros(
                state_dict[key].shape, dtype=self.mean.dtype, device=self.mean.device
            )
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


# ---------------------------------------------------------------------------
# ResNet v2 of the Keras CIFAR-10 example (used by the original MMC code)
# ---------------------------------------------------------------------------


def _keras_bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=KERAS_BN_EPS, momentum=KERAS_BN_MOMENTUM)


def _keras_conv(c_in: int, c_out: int, kernel_size: int, stride: int = 1) -> nn.Conv2d:
    """Conv2D(padding="same", use_bias=True) as in the Keras example.

    Keras "same" pads 3x3 stride-1 convs by 1 on every side (= padding=1).
    For stride 2 on an even size Keras pads (0, 1) asymmetrically, while
    PyTorch's padding=1 pads (1, 1); here that case never arises, because the
    Keras ResNet v2 puts its stride on the 1x1 convs (first bottleneck layer
    and shortcut), which need no padding at all (output ceil(H/2) either way:
    32->16->8 on CIFAR, 28->14->7 on MNIST).
    """
    return nn.Conv2d(
        c_in, c_out, kernel_size, stride=stride, padding=kernel_size // 2, bias=True
    )


class _BottleneckV2(nn.Module):
    """One bottleneck unit of the Keras resnet_v2 (He et al. 2016, pre-activation).

    y = conv1x1(c_mid, stride) -> BN-ReLU-conv3x3(c_mid) -> BN-ReLU-conv1x1(c_out),
    each conv preceded by BN-ReLU except the first when ``preact=False`` (the
    very first unit, whose input already went through the stem's BN-ReLU).
    Output = shortcut(x) + y, with a 1x1 projection shortcut (no BN/ReLU, on
    the raw block input, as in Keras) for the first unit of each stage.
    """

    def __init__(
        self, c_in: int, c_mid: int, c_out: int, stride: int, preact: bool, project: bool
    ) -> None:
        super().__init__()
        self.bn1 = _keras_bn(c_in) if preact else None
        self.conv1 = _keras_conv(c_in, c_mid, 1, stride)
        self.bn2 = _keras_bn(c_mid)
        self.conv2 = _keras_conv(c_mid, c_mid, 3)
        self.bn3 = _keras_bn(c_mid)
        self.conv3 = _keras_conv(c_mid, c_out, 1)
        # Named `shortcut` so count_layers() leaves it out of the depth.
        self.shortcut = _keras_conv(c_in, c_out, 1, stride) if project else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x if self.bn1 is None else F.relu(self.bn1(x))
        y = self.conv1(y)
        y = self.conv2(F.relu(self.bn2(y)))
        y = self.conv3(F.relu(self.bn3(y)))
        s = x if self.shortcut is None else self.shortcut(x)
        return s + y


class ResNetV2Keras(nn.Module):
    """PyTorch port of ``resnet_v2`` from the Keras CIFAR-10 example.

    This is the network of the original MMC code (P2333/Max-Mahalanobis-Training,
    ``utils/model.py``), a pre-activation bottleneck ResNet after He et al.,
    "Identity Mappings in Deep Residual Networks" (ECCV 2016). Depth 9n+2
    (stem + 3 layers per unit + dense); n=5 gives 47 layers, the network
    Pang et al. (2020) call "ResNet-32".

    Layout (channels with the default ``width=16``):

    * stem: conv3x3(in -> 16), BN, ReLU (conv first);
    * stage 0: n bottleneck units 16 -> 16 -> 64 channels, stride 1; its
      first unit's first conv has no BN/ReLU before it (the stem's follows);
    * stage 1: n units, mid 64, out 128; first unit stride 2;
    * stage 2: n units, mid 128, out 256; first unit stride 2;
    * BN, ReLU, global average pooling, Dense(256 -> feat_dim) with no
      activation: the features z.

    The Keras example pools with AveragePooling2D(8), i.e. over CIFAR's whole
    8x8 map (the MMC code uses GlobalAveragePooling2D); adaptive pooling to
    1x1 is the same on CIFAR and also handles MNIST's 7x7 map.

    Initialisation follows Keras: He-normal (fan_in) conv and dense kernels
    (``kernel_initializer="he_normal"``; Keras draws from a truncated normal,
    here a plain normal), zero biases, BN weight 1 / bias 0. BN uses Keras'
    eps and momentum. The original regularises conv kernels only with
    ``l2(1e-4)`` (a loss term 1e-4 * ||w||^2, i.e. a gradient 2e-4 * w, so
    PyTorch ``weight_decay=2e-4`` on :func:`conv_kernels` only).

    Args:
        in_channels: image channels (3; MNIST is fed as 3 repeated channels
            in the original, see :class:`Classifier`'s ``repeat_channels``).
        n: units per stage (depth 9n+2).
        feat_dim: dimension of the output features z (256 in the paper).
        width: stem filters (16 in Keras); stages output 4w, 8w, 16w.
    """

    def __init__(
        self, in_channels: int = 3, n: int = 5, feat_dim: int = 256, width: int = 16
    ) -> None:
        super().__init__()
        _check_positive_int("in_channels", in_channels)
        _check_positive_int("depth_n", n)
        _check_positive_int("feat_dim", feat_dim)
        _check_positive_int("width", width)
        self.n = n
        self.feat_dim = feat_dim

        self.stem_conv = _keras_conv(in_channels, width, 3)
        self.stem_bn = _keras_bn(width)

        units: list[nn.Module] = []
        c_in = width  # Keras' num_filters_in
        x_channels = width  # channels of the running tensor x
        for stage in range(3):
            c_out = c_in * 4 if stage == 0 else c_in * 2
            for block in range(n):
                first = block == 0
                units.append(
                    _BottleneckV2(
                        c_in=x_channels,
                        c_mid=c_in,
                        c_out=c_out,
                        stride=2 if (stage > 0 and first) else 1,
                        preact=not (stage == 0 and first),
                        project=first,
                    )
                )
                x_channels = c_out
            c_in = c_out
        self.units = nn.Sequential(*units)
        self.out_channels = x_channels  # 16 * width (256 by default)

        self.final_bn = _keras_bn(x_channels)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dense = nn.Linear(x_channels, feat_dim)
        self._init_keras()

    def _init_keras(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                # he_normal: std = sqrt(2 / fan_in).
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.stem_bn(self.stem_conv(x)))
        x = self.units(x)
        x = F.relu(self.final_bn(x))
        x = torch.flatten(self.pool(x), 1)
        return self.dense(x)


# ---------------------------------------------------------------------------
# Basic-block pre-activation ResNet (He et al. 2016)
# ---------------------------------------------------------------------------


class _PreActBasicBlock(nn.Module):
    """BN-ReLU-conv3x3-BN-ReLU-conv3x3 with identity or 1x1 projection shortcut.

    As in He et al. (2016), the projection (when stride or width changes) is
    applied to the pre-activated input, which both branches share.
    """

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        # Named `shortcut` so count_layers() leaves it out of the depth.
        self.shortcut = (
            nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)
            if stride != 1 or c_in != c_out
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = F.relu(self.bn1(x))
        s = x if self.shortcut is None else self.shortcut(a)
        y = self.conv1(a)
        y = self.conv2(F.relu(self.bn2(y)))
        return s + y


class PreActResNet(nn.Module):
    """Pre-activation ResNet with basic blocks (He et al., ECCV 2016).

    Depth 6n+2 (n=3: ResNet-20, n=5: ResNet-32): stem conv3x3(in -> w), three
    stages of n blocks with widths w, 2w, 4w (stride 2 at the first block of
    stages 2 and 3), final BN-ReLU, global average pooling and a Linear
    (4w -> feat_dim) giving the features z (no activation). Convs have no bias
    (BN follows). An alternative trunk to :class:`ResNetV2Keras` for
    Pang et al. (2020) experiments.

    Args:
        in_channels: image channels.
        n: blocks per stage (depth 6n+2).
        width: stem / first-stage width w.
        feat_dim: dimension of the output features z.
    """

    def __init__(
        self, in_channels: int = 3, n: int = 3, width: int = 16, feat_dim: int = 256
    ) -> None:
        super().__init__()
        _check_positive_int("in_channels", in_channels)
        _check_positive_int("depth_n", n)
        _check_positive_int("width", width)
        _check_positive_int("feat_dim", feat_dim)
        self.n = n
        self.feat_dim = feat_dim

        self.stem = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        blocks: list[nn.Module] = []
        c = width
        for stage, c_out in enumerate((width, 2 * width, 4 * width)):
            for block in range(n):
                stride = 2 if (stage > 0 and block == 0) else 1
                blocks.append(_PreActBasicBlock(c, c_out, stride))
                c = c_out
        self.blocks = nn.Sequential(*blocks)
        self.out_channels = c
        self.final_bn = nn.BatchNorm2d(c)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, feat_dim)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))
        x = F.relu(self.final_bn(x))
        x = torch.flatten(self.pool(x), 1)
        return self.fc(x)


# ---------------------------------------------------------------------------
# Small CNN for 8x8 digits
# ---------------------------------------------------------------------------


class SmallCNN(nn.Module):
    """A tiny CNN for scikit-learn's 8x8 digits (also runs on 28x28 inputs).

    conv3x3(in -> w)-BN-ReLU, conv3x3(w -> 2w)-BN-ReLU, maxpool 2,
    conv3x3(2w -> 2w)-BN-ReLU, global average pooling, Linear(2w -> feat_dim).
    Cheap enough for CPU-only demos of Pang et al. (2020); ``feat_dim`` may be
    as small as 2 for plots of the feature space.

    Args:
        in_channels: image channels (1 for digits).
        feat_dim: dimension of the output features z.
        width: base width w.
    """

    def __init__(self, in_channels: int = 1, feat_dim: int = 64, width: int = 32) -> None:
        super().__init__()
        _check_positive_int("in_channels", in_channels)
        _check_positive_int("feat_dim", feat_dim)
        _check_positive_int("width", width)
        self.feat_dim = feat_dim
        w = width
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, w, 3, padding=1, bias=False),
            nn.BatchNorm2d(w),
            nn.ReLU(inplace=True),
            nn.Conv2d(w, 2 * w, 3, padding=1, bias=False),
            nn.BatchNorm2d(2 * w),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1, bias=False),
            nn.BatchNorm2d(2 * w),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.fc = nn.Linear(2 * w, feat_dim)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x))


# ---------------------------------------------------------------------------
# Factory and helpers
# ---------------------------------------------------------------------------

ARCHS: dict[str, type[nn.Module]] = {
    "resnet_v2": ResNetV2Keras,
    "preact_resnet": PreActResNet,
    "small_cnn": SmallCNN,
}


def make_trunk(
    arch: str,
    in_channels: int,
    feat_dim: int,
    depth_n: int | None = None,
    width: int | None = None,
) -> nn.Module:
    """Build a trunk by name (see :data:`ARCHS`).

    ``depth_n`` is n in depth 9n+2 (resnet_v2, default 5) or 6n+2
    (preact_resnet, default 3); small_cnn has a fixed depth and ignores it.
    ``width`` is the base width (defaults: 16, 16, 32). ``None`` keeps the
    trunk's default. Invalid values raise ValueError naming the field.
    """
    if arch not in ARCHS:
        allowed = ", ".join(sorted(ARCHS))
        raise ValueError(f"arch: unknown {arch!r} (allowed: {allowed})")
    if depth_n is not None:
        _check_positive_int("depth_n", depth_n)
    if width is not None:
        _check_positive_int("width", width)
    _check_positive_int("feat_dim", feat_dim)
    _check_positive_int("in_channels", in_channels)

    kwargs: dict[str, int] = {"in_channels": in_channels, "feat_dim": feat_dim}
    if width is not None:
        kwargs["width"] = width
    if depth_n is not None and arch != "small_cnn":
        kwargs["n"] = depth_n
    return ARCHS[arch](**kwargs)


def conv_kernels(module: nn.Module) -> list[nn.Parameter]:
    """Weights of every ``nn.Conv2d`` in ``module`` (no biases, BN or Linear).

    The original code applies ``l2(1e-4)`` to conv kernels only; the trainer
    gives these parameters ``weight_decay=2e-4`` and all others none.
    """
    return [m.weight for m in module.modules() if isinstance(m, nn.Conv2d)]


def count_layers(trunk: nn.Module) -> int:
    """Depth as counted by the papers: Conv2d + Linear modules, minus shortcuts.

    Projection shortcuts (modules named ``shortcut``) are not counted, so
    ResNetV2Keras(n) gives 9n+2 (47 for n=5) and PreActResNet(n) 6n+2.
    """
    count = 0
    for name, m in trunk.named_modules():
        if name.rsplit(".", 1)[-1] == _SHORTCUT:
            continue
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            count += 1
    return count
