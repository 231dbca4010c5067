"""Body-frame normalisation, resampling and padding.

``ntu`` (the NTU RGB+D paper's convention, Shahroudy et al. 2016, §5): for each sequence, from its
*first valid frame* (the first frame whose joints are not all zero),

* origin at the spine-mid joint (``frame_joints['origin']``),
* X axis along right shoulder -> left shoulder,
* Y axis along spine base -> spine top, made orthogonal to X (Gram-Schmidt),
* Z = X x Y (right-handed),
* all coordinates divided by the spine-base-to-spine-top distance.

One transform per sequence (not per frame) is applied, so that motion of the whole body
(a jump, a turn) stays visible to the classifier; this is the choice the NTU authors made.
``center`` only translates the origin; ``none`` leaves coordinates as read.
Channel data (C = 1) accepts ``none`` and ``zscore`` (per channel over the training split).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .rnn import valid_frames
from .topology import Topology

__all__ = ["METHODS", "body_frame", "first_valid_frame", "normalize", "pad_sequences", "resample"]

METHODS = ("ntu", "center", "none", "zscore")


def first_valid_frame(x: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Index of the first frame with any non-zero coordinate, per sequence.

    x: (N, T, J, C); length: (N,). Returns (N,) int (0 when every frame is zero).
    """
    n, T = x.shape[:2]
    first = np.zeros(n, np.int64)
    for i in range(0, n, BLOCK):            # in blocks: no (N, T, J, C) temporary
        sl = slice(i, min(i + BLOCK, n))
        nonzero = (np.asarray(x[sl]).reshape(sl.stop - i, T, -1) != 0).any(-1)   # (B, T)
        first[sl] = (nonzero & valid_frames(np.asarray(length)[sl], T)).argmax(1)
    return first


def body_frame(x: np.ndarray, length: np.ndarray, topology: Topology,
               eps: float = 1e-8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The NTU body frame of every sequence, from its first valid frame.

    x: (N, T, J, 3) camera-space joints. Returns origin (N, 3), rotation R (N, 3, 3) whose rows are
    the body X, Y, Z axes in camera coordinates, and scale (N,) (spine length; 1 where degenerate).
    """
    fj = topology.frame_joints
    first = first_valid_frame(x, length)
    pose = x[np.arange(len(x)), first].astype(np.float64)  # (N, J, 3)
    origin = pose[:, fj["origin"]]
    ax = pose[:, fj["left_shoulder"]] - pose[:, fj["right_shoulder"]]
    ay = pose[:, fj["spine_top"]] - pose[:, fj["spine_base"]]
    scale = np.linalg.norm(ay, axis=-1)
    ex = ax / np.maximum(np.linalg.norm(ax, axis=-1, keepdims=True), eps)
    ay = ay - (ay * ex).sum(-1, keepdims=True) * ex
    ey = ay / np.maximum(np.linalg.norm(ay, axis=-1, keepdims=True), eps)
    ez = np.cross(ex, ey)
    R = np.stack([ex, ey, ez], axis=1)
    degenerate = (scale < eps) | (np.linalg.norm(ez, axis=-1) < 0.5)
    R[degenerate] = np.eye(3)
    scale = np.where(scale < eps, 1.0, scale)
    return origin.astype(np.float64), R.astype(np.float64), scale.astype(np.float64)


def _valid_mask(x: np.ndarray, length: np.ndarray) -> np.ndarray:
    return valid_frames(np.asarray(length), x.shape[1])[:, :, None, None]


#: sequences per block of the transforms below: the float64 temporaries of one block stay a few
#: MB, so memory is the input and the output (or only the input with ``out=x``) at any N
BLOCK = 512


def normalize(x: np.ndarray, length: np.ndarray, topology: Topology, method: str = "ntu",
              train_mask: np.ndarray | None = None, out: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray, dict]:
    """Normalise sequences; padding after ``length`` stays zero.

    x: (N, T, J, C); length: (N,). Returns (x_norm float32 (N, T, J, C), scale (N,), info dict
    recorded in the data.h5 ``normalization`` attribute).  The transform runs in blocks of
    :data:`BLOCK` sequences into ``out`` (a new float32 array by default; ``out=x`` for a float32
    ``x`` normalises in place, so a whole dataset is held once).  ``x`` and ``out`` may be the
    same HDF5 dataset for ``zscore`` or ``none`` (transformed on disk, a block at a time: the
    streamed ``prepare``'s second pass); ``ntu`` and ``center`` need a NumPy ``x``.
    """
    if method not in METHODS:
        raise ValueError(f"normalization must be one of {METHODS}, got {method!r}")
    n = len(x)
    length = np.asarray(length)
    if out is None:
        out = np.empty(x.shape, np.float32)
    elif out.shape != x.shape or out.dtype != np.float32:
        raise ValueError(f"normalize: out must be float32 of shape {x.shape}, got {out.dtype} {out.shape}")
    info: dict = {"method": method}
    scale = np.ones(n, np.float64)
    if method == "zscore":
        mean, std = _frame_moments(x, length, train_mask)
        info.update(mean=mean.ravel().tolist(), std=std.ravel().tolist())

        def transform(xb, sl):
            return (xb - mean) / std
    elif method == "none":
        def transform(xb, sl):
            return xb
    else:
        if x.shape[-1] != 3 or not topology.is_skeleton:
            raise ValueError(f"normalization {method!r} needs 3-D skeleton joints; use 'none' or 'zscore' "
                             f"for channel data (topology {topology.name!r})")
        origin, R, body_scale = body_frame(x, length, topology)
        info.update(origin_joint=topology.joints[topology.frame_joints["origin"]])
        if method == "center":
            def transform(xb, sl):
                return xb - origin[sl, None, None, :]
        else:
            scale = body_scale
            info.update(x_axis="right_shoulder->left_shoulder", y_axis="spine_base->spine_top",
                        scale="|spine_top - spine_base|", from_frame="first valid frame")

            def transform(xb, sl):
                return np.einsum("ntjc,nkc->ntjk", xb - origin[sl, None, None, :], R[sl]) / scale[sl, None, None, None]
    for i in range(0, n, BLOCK):
        sl = slice(i, min(i + BLOCK, n))
        xb = np.asarray(x[sl], np.float64)
        out[sl] = (transform(xb, sl) * _valid_mask(xb, length[sl])).astype(np.float32, copy=False)
    return out, scale.astype(np.float32), info


def _frame_moments(x: np.ndarray, length: np.ndarray, train_mask: np.ndarray | None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation (J, C) over the valid frames of the training sequences (all
    sequences without ``train_mask``), accumulated in float64 blocks; std 0 becomes 1."""
    total = np.zeros(x.shape[2:], np.float64)
    sq = np.zeros(x.shape[2:], np.float64)
    count = 0
    for i in range(0, len(x), BLOCK):
        sl = slice(i, min(i + BLOCK, len(x)))
        sel = valid_frames(length[sl], x.shape[1])
        if train_mask is not None:
            sel = sel & np.asarray(train_mask)[sl, None]
        frames = np.asarray(x[sl], np.float64)[sel]
        total += frames.sum(0)
        sq += (frames ** 2).sum(0)
        count += len(frames)
    mean = total / max(count, 1)
    std = np.sqrt(np.maximum(sq / max(count, 1) - mean ** 2, 0.0))
    return mean, np.where(std > 0, std, 1.0)


def resample(seq: np.ndarray, frames: int) -> np.ndarray:
    """Linear resampling of one sequence (T, ...) to ``frames`` frames along axis 0."""
    t_old = np.linspace(0.0, 1.0, len(seq))
    t_new = np.linspace(0.0, 1.0, frames)
    flat = seq.reshape(len(seq), -1)
    idx = np.clip(np.searchsorted(t_old, t_new, side="right") - 1, 0, len(seq) - 2) if len(seq) > 1 else np.zeros(frames, int)
    if len(seq) == 1:
        return np.repeat(seq, frames, axis=0)
    w = ((t_new - t_old[idx]) / (t_old[idx + 1] - t_old[idx]))[:, None]
    out = flat[idx] * (1 - w) + flat[idx + 1] * w
    return out.reshape((frames,) + seq.shape[1:]).astype(seq.dtype)


def pad_sequences(seqs: Sequence[np.ndarray], max_frames: int | None = None,
                  mode: str = "subsample") -> tuple[np.ndarray, np.ndarray]:
    """Stack variable-length sequences (T_i, J, C) into (N, T, J, C) zero-padded after length.

    Sequences longer than ``max_frames`` are shortened by ``mode``: ``subsample`` (uniform frame
    selection, keeps the whole action), ``resample`` (linear interpolation) or ``crop`` (first frames).
    """
    lengths = np.array([len(s) for s in seqs], np.int32)
    T = int(lengths.max()) if max_frames is None else int(max_frames)
    J, C = seqs[0].shape[1:]
    out = np.zeros((len(seqs), T, J, C), np.float32)
    for i, s in enumerate(seqs):
        if len(s) > T:
            if mode == "subsample":
                s = s[np.linspace(0, len(s) - 1, T).round().astype(int)]
            elif mode == "resample":
                s = resample(s, T)
            elif mode == "crop":
                s = s[:T]
            else:
                raise ValueError(f"unknown mode {mode!r}")
        out[i, :len(s)] = s
        lengths[i] = len(s)
    return out, lengths
