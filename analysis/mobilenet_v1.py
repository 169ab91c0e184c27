"""MobileNetV1 as a chain of block-wise subtasks: per-variant multiply-adds and activation sizes.

The layer table is Howard et al. 2017 (arXiv 1704.04861), Table 1: a 3x3
stride-2 convolution to 32 channels, then 13 depthwise-separable blocks
(3x3 depthwise + 1x1 pointwise), global average pooling and a 1000-way fully
connected layer. A width multiplier alpha scales every channel count except
the RGB input; the input resolution scales every feature map (Sec. 3.3-3.4).
Multiply-adds (MACs) are counted as the paper does: standard conv
``Dk^2 M N DF^2``, depthwise ``Dk^2 M DF^2``, pointwise ``M N DF^2`` (DF the
output map side), FC ``M N``; pooling, batch norm and ReLU are not counted.
This count reproduces the published totals (Tables 6-7) within 0.4 % for all
seven variants (tested).

Subtasks (``BLOCKS``): the 28 layers are grouped into 7 consecutive blocks at
the points where the feature map halves (plus a split of the 5 identical
14x14 blocks and a separate classifier), so every cut point is a real layer
boundary:

  0: conv1 + separable block 1            -> 112x112x64   (at 224 px, alpha 1)
  1: separable blocks 2-3                 -> 56x56x128
  2: separable blocks 4-5                 -> 28x28x256
  3: separable blocks 6-8                 -> 14x14x512
  4: separable blocks 9-11                -> 14x14x512
  5: separable blocks 12-13               -> 7x7x1024
  6: average pool + FC                    -> 1000 logits

Data edges: d_0 is the input image as 8-bit RGB (``res^2 x 3`` bytes, what a
camera pipeline hands the model); d_1..d_6 are the output activation tensors
of blocks 0-5 in float32 (4 bytes per element, TF-Lite's float models); d_7
is the 1000 float32 logits sent back to the device (4000 bytes).

Run ``python analysis/mobilenet_v1.py`` to print the ``task.variants`` entries
of ``scenarios/model_selection.yaml`` (the test checks that file against this
computation).
"""

from __future__ import annotations

import sys

#: (name, width multiplier, input resolution px, published MACs (millions), published ImageNet top-1)
#: Howard et al. 2017, arXiv 1704.04861: Table 6 (width at 224 px) and Table 7 (resolution at width 1.0).
VARIANTS = (
    ("mobilenet_v1_1.0_224", 1.0, 224, 569, 0.706),
    ("mobilenet_v1_1.0_192", 1.0, 192, 418, 0.691),
    ("mobilenet_v1_0.75_224", 0.75, 224, 325, 0.684),
    ("mobilenet_v1_1.0_160", 1.0, 160, 290, 0.672),
    ("mobilenet_v1_1.0_128", 1.0, 128, 186, 0.644),
    ("mobilenet_v1_0.5_224", 0.5, 224, 149, 0.637),
    ("mobilenet_v1_0.25_224", 0.25, 224, 41, 0.506),
)

# Howard et al. 2017, Table 1: (kind, stride, input channels, output channels) of the 27 conv layers
_LAYERS = ([("conv", 2, 3, 32), ("dw", 1, 32, 32), ("pw", 1, 32, 64), ("dw", 2, 64, 64), ("pw", 1, 64, 128),
            ("dw", 1, 128, 128), ("pw", 1, 128, 128), ("dw", 2, 128, 128), ("pw", 1, 128, 256),
            ("dw", 1, 256, 256), ("pw", 1, 256, 256), ("dw", 2, 256, 256), ("pw", 1, 256, 512)]
           + [("dw", 1, 512, 512), ("pw", 1, 512, 512)] * 5
           + [("dw", 2, 512, 512), ("pw", 1, 512, 1024), ("dw", 1, 1024, 1024), ("pw", 1, 1024, 1024)])

#: index (into the 27 conv layers + FC = 28) of the last layer of each subtask
BLOCK_ENDS = (2, 6, 10, 16, 22, 26, 27)

INPUT_BYTES_PER_PIXEL = 3  # 8-bit RGB
ACTIVATION_BYTES = 4  # float32
LOGITS_BYTES = 1000 * 4


def layer_table(alpha: float, res: int) -> list[tuple[str, int, int, int]]:
    """Per layer (conv layers then FC): (kind, MACs, output map side, output channels)."""
    out = []
    side = res
    for kind, stride, cin, cout in _LAYERS:
        ci = cin if kind == "conv" else int(cin * alpha)
        co = int(cout * alpha)
        side = -(-side // stride)  # 'same' padding
        if kind == "conv":
            macs = side * side * 9 * ci * co
        elif kind == "dw":
            macs = side * side * 9 * ci
        else:
            macs = side * side * ci * co
        out.append((kind, macs, side, co))
    c = int(1024 * alpha)
    out.append(("fc", c * 1000, 1, 1000))
    return out


def blocks(alpha: float, res: int) -> tuple[list[int], list[int]]:
    """(MACs per subtask (7), bytes per data edge (8)) of one variant."""
    layers = layer_table(alpha, res)
    macs, data = [], [res * res * INPUT_BYTES_PER_PIXEL]
    lo = 0
    for end in BLOCK_ENDS:
        macs.append(sum(m for _, m, _, _ in layers[lo:end + 1]))
        _, _, side, ch = layers[end]
        data.append(LOGITS_BYTES if end == len(layers) - 1 else side * side * ch * ACTIVATION_BYTES)
        lo = end + 1
    return macs, data


def variants_yaml() -> str:
    """The ``task.variants`` list of the scenario, with the source of each number in comments."""
    lines = []
    for name, alpha, res, pub_macs, top1 in VARIANTS:
        macs, data = blocks(alpha, res)
        lines.append(f"    - name: {name}   # Howard et al. 2017 Table {6 if res == 224 else 7}: "
                     f"{pub_macs} M MACs published, {sum(macs) / 1e6:.1f} M counted here")
        lines.append(f"      accuracy: {top1 * 100:.1f} %")
        lines.append(f"      cycles: [{', '.join(str(m) for m in macs)}]")
        lines.append(f"      bytes: [{', '.join(str(d) for d in data)}]")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(variants_yaml() + "\n")
