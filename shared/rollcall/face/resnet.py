"""dlib's face-recognition ResNet, run with numpy from dlib's own model file.

Why not ``dlib.face_recognition_model_v1``: the prebuilt dlib wheel (dlib-bin) is compiled
without BLAS, so its CNN takes about 75 ms per face on one core and holds the GIL. The same
network as float32 matrix products through numpy's OpenBLAS takes about 9 ms per face when the
faces of a photo go as one batch, on every core. The outputs equal dlib's to about 1e-5 (a unit
test compares them on real faces), so thresholds and stored embeddings are interchangeable.

The network (dlib's ``anet_type``, dlib_face_recognition_resnet_model_v1): an aligned 150x150
RGB face chip, minus a per-channel mean, divided by 256 → conv 7x7/2 (32) → affine → ReLU →
max-pool 3x3/2 → 14 residual blocks (32, 64, 128, 256, 256 filters; the first block of each width
but the first halves the size) → global average → 128 outputs, no bias. A block is conv 3x3 →
affine → ReLU → conv 3x3 → affine, plus its input (average-pooled 2x2/2 in a halving block), →
ReLU. When the two summands differ in size (channels, or 3 vs 4 rows), dlib adds them as if the
smaller were padded with zeros at the end; so does :func:`_add_padded`.

The affine layers (batch normalisation frozen at training) are folded into the convolution
before them: ``gamma * (W x + b) + beta = (gamma W) x + (gamma b + beta)``.

Reading the file: dlib serialises the network as nested layers. Integers are a control byte
(low nibble: byte count; bit 7: negative) then little-endian bytes; strings are a length then
bytes; bools are the characters '0'/'1'; floats outside tensors are an integer mantissa and
exponent; tensors (version 2) are four sizes then raw little-endian float32, read with
``np.frombuffer`` (the whole file loads in tens of milliseconds). The file starts with the loss
layer and the layers' version numbers, then the input layer, then each layer from the input to
the output, each followed by its bookkeeping (three bools and empty cached tensors). The
residual wiring (tags and skips) is not in the layer sequence, so :class:`_Parser` checks the
sequence against the known architecture and fails loudly on any other file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import numpy as np

from rollcall.platform.errors import ModelUnavailable

if TYPE_CHECKING:
    from numpy.typing import NDArray

CHIP_SIZE = 150
CHIP_PADDING = 0.25  # dlib's compute_face_descriptor default: the chip shows the face plus 25% around it


@dataclass(frozen=True)
class _Conv:
    weights: NDArray[np.float32]  # (kh*kw*C, O): rows in (kh, kw, C) order, for NHWC patches
    bias: NDArray[np.float32]  # (O,)
    size: int
    stride: int
    padding: int


@dataclass(frozen=True)
class _Block:
    first: _Conv
    second: _Conv
    halves: bool  # the shortcut is average-pooled 2x2/2


class FaceNet:
    """The descriptor network: ``net(chips)`` maps (N, 150, 150, 3) uint8 chips to (N, 128) float32."""

    def __init__(
        self, mean_rgb: NDArray[np.float32], stem: _Conv, blocks: list[_Block], fc: NDArray[np.float32]
    ) -> None:
        self._mean = mean_rgb
        self._stem = stem
        self._blocks = blocks
        self._fc = fc

    @classmethod
    def from_dlib_file(cls, path: Path) -> FaceNet:
        try:
            data = path.read_bytes()
        except OSError as e:
            raise ModelUnavailable(f"cannot read {path.name}: {e.strerror}") from e
        parser = _Parser(data, path.name)
        try:
            return parser.network()
        except (IndexError, ValueError, UnicodeDecodeError) as e:  # ran off a cut or foreign file
            parser.fail(f"{type(e).__name__} reading it")

    def __call__(self, chips: NDArray[np.uint8]) -> NDArray[np.float32]:
        if chips.ndim != 4 or chips.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
            raise ValueError(f"expected (N, {CHIP_SIZE}, {CHIP_SIZE}, 3) chips, got {chips.shape}")
        if len(chips) == 0:
            return np.zeros((0, self._fc.shape[1]), np.float32)
        x = (chips.astype(np.float32) - self._mean) * np.float32(1 / 256)
        x = _relu(_conv(x, self._stem))
        x = _max_pool_3x3_2(x)
        for block in self._blocks:
            y = _conv(_relu(_conv(x, block.first)), block.second)
            shortcut = _avg_pool_2x2_2(x) if block.halves else x
            x = _relu(_add_padded(y, shortcut))
        return x.mean(axis=(1, 2), dtype=np.float32) @ self._fc


# --- layers (NHWC float32) -------------------------------------------------------------------------


def _conv(x: NDArray[np.float32], conv: _Conv) -> NDArray[np.float32]:
    """Convolution as one matrix product over all patches of the batch (im2col)."""
    if conv.padding:
        p = conv.padding
        x = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    patches = _patches(x, conv.size, conv.stride)
    n, out_h, out_w = patches.shape[:3]
    out = patches.reshape(n * out_h * out_w, -1) @ conv.weights  # the reshape copies the patches into rows
    out += conv.bias
    return out.reshape(n, out_h, out_w, -1)


def _relu(x: NDArray[np.float32]) -> NDArray[np.float32]:
    return np.maximum(x, 0, out=x)


def _patches(x: NDArray[np.float32], k: int, s: int) -> NDArray[np.float32]:
    """A view (N, out_h, out_w, k, k, C) of every k x k patch at stride s; nothing is copied."""
    n, h, w, c = x.shape
    out_h, out_w = (h - k) // s + 1, (w - k) // s + 1
    return np.lib.stride_tricks.as_strided(
        x,
        shape=(n, out_h, out_w, k, k, c),
        strides=(x.strides[0], x.strides[1] * s, x.strides[2] * s, x.strides[1], x.strides[2], x.strides[3]),
        writeable=False,
    )


def _max_pool_3x3_2(x: NDArray[np.float32]) -> NDArray[np.float32]:
    return _patches(x, 3, 2).max(axis=(3, 4))


def _avg_pool_2x2_2(x: NDArray[np.float32]) -> NDArray[np.float32]:
    return _patches(x, 2, 2).mean(axis=(3, 4), dtype=np.float32)


def _add_padded(a: NDArray[np.float32], b: NDArray[np.float32]) -> NDArray[np.float32]:
    """``a + b`` where the smaller is zero-padded at the end of each axis (dlib's ``add_prev``)."""
    if a.shape == b.shape:
        return a + b
    out = np.zeros(tuple(max(i, j) for i, j in zip(a.shape, b.shape, strict=True)), np.float32)
    out[tuple(slice(0, i) for i in a.shape)] += a
    out[tuple(slice(0, i) for i in b.shape)] += b
    return out


# --- reading dlib's file ----------------------------------------------------------------------------


class _Parser:
    """Reads dlib_face_recognition_resnet_model_v1.dat into a :class:`FaceNet` (see module docstring)."""

    def __init__(self, data: bytes, name: str) -> None:
        self._data = data
        self._name = name
        self._pos = 0

    def network(self) -> FaceNet:
        self._int()  # the loss layer's version
        self._expect_string("loss_metric_2")
        self._float(), self._float()  # margin and distance threshold: training only
        while self._peek(self._int) in (1, 2, 3):  # the layers' versions, outermost first
            self._int()
        self._expect_string("input_rgb_image_sized")
        mean_rgb = np.array([self._float() for _ in range(3)], np.float32)
        if (self._int(), self._int()) != (CHIP_SIZE, CHIP_SIZE):
            self.fail("input size is not 150x150")
        stem = self._conv_affine(first=True)
        self._expect_string("relu_")
        self._bookkeeping()
        self._expect_string("max_pool_2")
        if [self._int() for _ in range(6)] != [3, 3, 2, 2, 0, 0]:
            self.fail("unexpected max pooling")
        self._bookkeeping()
        blocks = []
        while self._peek(self._string) == "con_4":
            first = self._conv_affine()
            self._expect_string("relu_")
            self._bookkeeping()
            second = self._conv_affine()
            halves = self._peek(self._string) == "avg_pool_2"
            if halves:
                self._pooling([2, 2, 2, 2, 0, 0])
            self._expect_string("add_prev_")
            self._bookkeeping()
            self._expect_string("relu_")
            self._bookkeeping()
            blocks.append(_Block(first, second, halves))
        self._pooling([0, 0, 1, 1, 0, 0])  # average over the whole map
        self._expect_string("fc_2")
        outputs, inputs = self._int(), self._int()
        _, fc = self._tensor()
        if fc.size != inputs * outputs or self._int() != 1:  # alias version of the weights
            self.fail("unexpected fully connected layer")
        if len(blocks) != 14 or not blocks[3].halves or fc.shape != (256 * 128,):
            self.fail("not the 29-layer face ResNet")
        return FaceNet(mean_rgb, stem, blocks, fc.reshape(inputs, outputs).copy())

    # layers

    def _conv_affine(self, *, first: bool = False) -> _Conv:
        self._expect_string("con_4")
        _, params = self._tensor()
        filters, rows, cols = self._int(), self._int(), self._int()
        stride_y, stride_x, pad_y, pad_x = (self._int() for _ in range(4))
        _, out, channels, _, _ = self._alias()
        self._alias()  # biases
        for _ in range(4):  # learning-rate and weight-decay multipliers
            self._float()
        self._bookkeeping()
        if first:
            self._int()  # the first layer also records its sample expansion factor
        if rows != cols or stride_y != stride_x or pad_y != pad_x or out != filters:
            self.fail("unexpected convolution")
        self._expect_string("affine_")
        _, affine = self._tensor()
        self._alias(), self._alias()
        if self._int() != 0:  # CONV_MODE: one gamma and beta per channel
            self.fail("unexpected affine mode")
        self._bookkeeping()
        weights = params[: filters * channels * rows * cols].reshape(filters, channels, rows, cols)
        bias = params[filters * channels * rows * cols :]
        gamma, beta = affine[:filters], affine[filters:]
        folded = (weights * gamma[:, None, None, None]).transpose(2, 3, 1, 0)  # (kh, kw, C, O)
        return _Conv(
            weights=np.ascontiguousarray(folded.reshape(-1, filters), np.float32),
            bias=(bias * gamma + beta).astype(np.float32),
            size=rows,
            stride=stride_y,
            padding=pad_y,
        )

    def _pooling(self, expected: list[int]) -> None:
        self._expect_string("avg_pool_2")
        if [self._int() for _ in range(6)] != expected:
            self.fail("unexpected average pooling")
        self._bookkeeping()

    def _bookkeeping(self) -> None:
        """What follows each layer: three bools and its (empty) cached tensors."""
        for _ in range(3):
            if self._data[self._pos] not in b"01":
                self.fail("layer bookkeeping expected")
            self._pos += 1
        while self._data[self._pos : self._pos + 10] == b"\x01\x02" + b"\x01\x00" * 4:
            self._pos += 10

    # primitives

    def _int(self) -> int:
        control = self._data[self._pos]
        size = control & 0x0F
        value = int.from_bytes(self._data[self._pos + 1 : self._pos + 1 + size], "little")
        self._pos += 1 + size
        return -value if control & 0x80 else value

    def _float(self) -> float:
        mantissa = self._int()
        return float(mantissa * 2.0 ** self._int())

    def _string(self) -> str:
        size = self._int()
        text = self._data[self._pos : self._pos + size]
        self._pos += size
        return text.decode("latin-1")

    def _peek[T](self, read: Callable[[], T]) -> T:
        """What ``read`` would read next, without moving on."""
        pos = self._pos
        try:
            return read()
        finally:
            self._pos = pos

    def _expect_string(self, expected: str) -> None:
        if (found := self._string()) != expected:
            self.fail(f"expected {expected!r}, found {found[:30]!r}")

    def _tensor(self) -> tuple[tuple[int, ...], NDArray[np.float32]]:
        if self._int() != 2:
            self.fail("unexpected tensor version")
        shape = tuple(self._int() for _ in range(4))
        count = int(np.prod(shape))
        values = np.frombuffer(self._data, dtype="<f4", count=count, offset=self._pos).astype(np.float32)
        self._pos += 4 * count
        return shape, values

    def _alias(self) -> tuple[int, ...]:
        return tuple(self._int() for _ in range(5))  # version, then four sizes

    def fail(self, why: str) -> NoReturn:
        raise ModelUnavailable(f"{self._name} is not dlib's face ResNet v1 ({why}, at byte {self._pos})")
