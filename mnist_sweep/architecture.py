"""The grammar of the model family, and its architecture table: parameters and multiply-adds of
every layer, computed from a config alone, without torch (a config is checked, and a model over
budget refused, before torch is imported).

A network is a list of blocks. Each block is a run of convs (conv → BatchNorm → ReLU, or
conv → ReLU → BatchNorm with ``bn_after_relu``), then an optional Dropout2d and an optional 2x2
max-pool. Kernels are per conv; padding is per block, or per conv (e.g. 0 for a 1x1 conv inside a
padded block). With ``separable`` (one value, per block or per conv) a conv is
depthwise-separable: a depthwise k×k conv (one filter per channel, no bias, since the pointwise
conv's bias follows it) then a pointwise 1×1 conv, c·k² + c·w weights instead of c·w·k². With
``pool_before_bn`` a block pools straight after its last conv, before that conv's BatchNorm and
ReLU: ReLU commutes with max-pooling, and BatchNorm nearly does, so the block computes almost the
same function while normalising a quarter of the values (on two CPU cores, BatchNorm over 8
channels at 28x28 costs as much as the conv). A head turns the last feature map into ten
log-probabilities: ``flatten`` (Linear on the flattened map), ``gap`` (global average pool, then
Linear) or ``conv1x1`` (a 1x1 conv to one map per class, then global average pool: no Linear at
all). Every width, kernel, padding and pool is a plain config value, so a sweep can vary it.
``models.ConvNet`` builds the torch modules row by row from this table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mnist_sweep.checks import choice, flag, is_int, is_number
from mnist_sweep.errors import ConfigError


@dataclass(frozen=True)
class Layer:
    """One row of the architecture table: a layer, its output shape (C, H, W), parameters and
    multiply-adds, and ``op``, what ``models.ConvNet`` builds for it (the table is the only walk
    of the block grammar, so the table and the module cannot disagree)."""

    name: str
    out_shape: tuple[int, ...]
    params: int
    macs: int = 0
    op: tuple = ()

    def as_row(self) -> dict[str, object]:
        """The row as a run records it (``architecture.json``): what a reader shows."""
        return {
            "name": self.name,
            "out_shape": list(self.out_shape),
            "params": self.params,
            "macs": self.macs,
        }


NATIVE = "mnist_sweep.models.ConvNet"  # this family's module; any other _target_ is a user's own
HEADS = ("flatten", "gap", "conv1x1")
KERNELS = (1, 3, 5)


@dataclass(frozen=True)
class Arch:
    """A validated architecture: per-conv widths, kernels and padding, per-block settings."""

    widths: tuple[int, ...]
    kernels: tuple[int, ...]
    blocks: tuple[int, ...]
    padding: tuple[int, ...]
    pool: tuple[bool, ...]
    pool_before_bn: tuple[bool, ...]
    dropout: tuple[float, ...]
    head: str
    conv_bias: bool
    bn_after_relu: bool = False
    separable: tuple[bool, ...] = ()  # per conv: depthwise k×k then pointwise 1×1
    in_channels: int = 1
    image_size: int = 28
    num_classes: int = 10


def _expand(value: object, n: int, key: str, unit: str) -> tuple:
    if isinstance(value, Sequence) and not isinstance(value, str):
        values = tuple(value)
        if len(values) != n:
            raise ConfigError(
                f"model.{key}={list(values)} has {len(values)} entries but the model has {n} "
                f"{unit}s; give one value per {unit}, or a single value for all of them."
            )
        return values
    return (value,) * n


def _per_conv(value: object, blocks: Sequence[int], key: str) -> tuple:
    """A setting given once, once per block (each of its convs gets it) or once per conv, as one
    value per conv."""
    n_convs = sum(blocks)
    if not isinstance(value, Sequence) or isinstance(value, str):
        return (value,) * n_convs
    if len(value) == len(blocks):
        return tuple(v for v, n in zip(value, blocks, strict=True) for _ in range(n))
    if len(value) != n_convs:
        raise ConfigError(
            f"model.{key}={list(value)} has {len(value)} entries but the model has "
            f"{len(blocks)} blocks and {n_convs} convs; give one value per block, one per conv, "
            "or a single value for all of them."
        )
    return tuple(value)


def parse(model_cfg: Mapping) -> Arch:
    """Check a model config (keys starting with ``_`` are Hydra's) and expand it to an Arch."""
    cfg = {k: v for k, v in dict(model_cfg).items() if not k.startswith("_")}
    allowed = set(Arch.__dataclass_fields__)
    unknown = sorted(set(cfg) - allowed)
    if unknown:
        raise ConfigError(
            f"model has unknown key(s) {unknown}; allowed keys are {sorted(allowed)}."
        )
    widths = list(cfg.get("widths") or [])
    if not widths or not all(is_int(w) and w > 0 for w in widths):
        raise ConfigError(f"model.widths={widths} must be a non-empty list of positive integers.")
    blocks = list(cfg.get("blocks") or [len(widths)])
    if not all(is_int(b) and b > 0 for b in blocks) or sum(blocks) != len(widths):
        raise ConfigError(
            f"model.blocks={blocks} must be positive integers adding up to the number of "
            f"model.widths ({len(widths)})."
        )
    n_blocks = len(blocks)
    kernels = _expand(cfg.get("kernels", 3), len(widths), "kernels", "conv")
    if not all(k in KERNELS for k in kernels):
        raise ConfigError(f"model.kernels={list(kernels)} must each be one of {KERNELS}.")
    padding = _per_conv(cfg.get("padding", 1), blocks, "padding")
    if not all(is_int(p) and p >= 0 for p in padding):
        raise ConfigError(f"model.padding={list(padding)} must be integers >= 0.")
    given = cfg.get("separable", False)
    separable = _per_conv(given, blocks, "separable")
    if not all(isinstance(s, bool) for s in separable):
        raise ConfigError(
            f"model.separable={given!r} must hold true or false: one for all convs, one per "
            "block or one per conv."
        )
    pool = tuple(bool(p) for p in _expand(cfg.get("pool", True), n_blocks, "pool", "block"))
    early = _expand(cfg.get("pool_before_bn", False), n_blocks, "pool_before_bn", "block")
    if not all(isinstance(e, bool) for e in early) or any(
        e and not p for e, p in zip(early, pool, strict=True)
    ):
        raise ConfigError(
            f"model.pool_before_bn={list(early)} must hold true or false per block, and can be "
            f"true only where the block pools (model.pool={list(pool)})."
        )
    dropout = _expand(cfg.get("dropout", 0.0), n_blocks, "dropout", "block")
    if not all(is_number(p) and 0 <= p < 1 for p in dropout):
        raise ConfigError(f"model.dropout={list(dropout)} must hold numbers in [0, 1).")
    head = cfg.get("head", "flatten")
    choice("model.head", head, HEADS)
    for key in ("conv_bias", "bn_after_relu"):
        flag(f"model.{key}", cfg.get(key, key == "conv_bias"))
    return Arch(
        widths=tuple(widths),
        kernels=kernels,
        blocks=tuple(blocks),
        padding=padding,
        pool=pool,
        pool_before_bn=early,
        dropout=tuple(float(p) for p in dropout),
        head=head,
        conv_bias=cfg.get("conv_bias", True),
        bn_after_relu=cfg.get("bn_after_relu", False),
        separable=separable,
        **{k: int(cfg[k]) for k in ("in_channels", "image_size", "num_classes") if k in cfg},
    )


def layers(arch: Arch) -> list[Layer]:
    """The architecture table: every layer in the order the model runs it, with its output
    shape, trainable parameters, multiply-adds and what to build for it."""
    rows: list[Layer] = []
    c, size, i = arch.in_channels, arch.image_size, 0

    def pool(b: int) -> None:
        nonlocal size
        if size < 2:
            raise ConfigError(
                f"model block {b + 1} max-pools a {size}x{size} map; set its pool to false."
            )
        size //= 2
        rows.append(Layer("maxpool 2x2", (c, size, size), 0, op=("maxpool",)))

    for b, n_convs in enumerate(arch.blocks):
        for j in range(n_convs):
            k, w, pad = arch.kernels[i], arch.widths[i], arch.padding[i]
            size += 2 * pad - k + 1
            if size < 1:
                raise ConfigError(
                    f"model conv {i + 1} (block {b + 1}) shrinks the feature map below 1x1; "
                    "add padding or use fewer convs or pools."
                )
            bias = w if arch.conv_bias else 0
            if arch.separable and arch.separable[i]:  # depthwise k×k (no bias), pointwise 1×1
                weights = c * k * k + c * w
                name, op = f"conv{i + 1} {k}x{k} separable {c}→{w}", "separable"
            else:
                weights = c * w * k * k
                name, op = f"conv{i + 1} {k}x{k} {c}→{w}", "conv"
            rows.append(
                Layer(
                    name,
                    (w, size, size),
                    weights + bias,
                    weights * size * size,
                    op=(op, c, w, k, pad, arch.conv_bias),
                )
            )
            c, i = w, i + 1
            if arch.pool_before_bn[b] and j == n_convs - 1:
                pool(b)
            norm = ("batchnorm", w, arch.bn_after_relu)
            rows.append(Layer(f"batchnorm{i}", (w, size, size), 2 * w, op=norm))
        if arch.dropout[b]:
            p = arch.dropout[b]
            rows.append(Layer(f"dropout2d {p:g}", (c, size, size), 0, op=("dropout", p)))
        if arch.pool[b] and not arch.pool_before_bn[b]:
            pool(b)
    if arch.head == "conv1x1":  # a 1x1 conv to one channel per class, then average each map
        n = arch.num_classes
        weights = c * n
        rows.append(
            Layer(
                f"conv1x1 head {c}→{n}",
                (n, size, size),
                weights + n,
                weights * size * size,
                op=("head_conv", c, n),
            )
        )
        rows.append(Layer("global avg pool", (n, 1, 1), 0, op=("head_gap",)))
        return rows
    if arch.head == "gap":
        size = 1
        rows.append(Layer("global avg pool", (c, 1, 1), 0, op=("gap",)))
    features = c * size * size
    rows.append(
        Layer(
            f"linear {features}→{arch.num_classes}",
            (arch.num_classes, 1, 1),
            (features + 1) * arch.num_classes,
            features * arch.num_classes,
            op=("linear", features, arch.num_classes),
        )
    )
    return rows


def is_native(model_cfg: Mapping) -> bool:
    """True for this package's ConvNet family; False for a user's own ``nn.Module``."""
    return model_cfg.get("_target_", NATIVE) == NATIVE
