"""Measured quality of a low-dimensional projection of hidden states (the blog only eyeballs it).

* trustworthiness (Venna and Kaski 2001; ``sklearn.manifold.trustworthiness``): 1 when every
  point's k nearest neighbours in the projection are also near it in the original space;
* k-nearest-neighbour class agreement: the share of each point's k nearest neighbours (itself
  excluded) that carry its class, averaged over points; computed on last-step codes, where the
  classifier reads the state, and in the original H-dimensional space as the reference;
* PCA fitted on the same training vectors as the autoencoder, the linear baseline.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import trustworthiness as _sk_trustworthiness
from sklearn.neighbors import NearestNeighbors

from .settings import AutoencoderConfig

__all__ = ["fit_pca", "knn_agreement", "projection_quality", "trustworthiness"]


def fit_pca(vectors: np.ndarray, k: int, seed: int = 0) -> PCA:
    """PCA with k components fitted on vectors (M, H)."""
    return PCA(n_components=k, random_state=seed).fit(np.asarray(vectors, np.float64))


def _subsample(n: int, max_points: int, seed: int) -> np.ndarray:
    if max_points and n > max_points:
        return np.sort(np.random.default_rng([seed, 31]).choice(n, max_points, replace=False))
    return np.arange(n)


def trustworthiness(X: np.ndarray, Y: np.ndarray, n_neighbors: int = 10, max_points: int = 2000,
                    seed: int = 0) -> float:
    """sklearn's trustworthiness of Y (M, k) as an embedding of X (M, H), on a seeded subset of at
    most ``max_points`` points (the measure is O(M^2))."""
    idx = _subsample(len(X), max_points, seed)
    n_neighbors = int(min(n_neighbors, max(1, (len(idx) - 1) // 2 - 1)))
    return float(_sk_trustworthiness(np.asarray(X, np.float64)[idx], np.asarray(Y, np.float64)[idx],
                                     n_neighbors=n_neighbors))


def knn_agreement(Y: np.ndarray, label: np.ndarray, n_neighbors: int = 10) -> float:
    """Mean share of each point's ``n_neighbors`` nearest neighbours (itself excluded, Euclidean)
    that have its label; 1 when the classes form separate clusters."""
    Y = np.asarray(Y, np.float64)
    label = np.asarray(label)
    k = int(min(n_neighbors, len(Y) - 1))
    if k < 1:
        return float("nan")
    nn = NearestNeighbors(n_neighbors=k + 1).fit(Y)
    _, ind = nn.kneighbors(Y)
    # drop the point itself (it may not be first when duplicates exist)
    rows = [r[r != i][:k] for i, r in enumerate(ind)]
    return float(np.mean([np.mean(label[r] == label[i]) for i, r in enumerate(rows)]))


def projection_quality(train_vectors: np.ndarray, last_hidden: np.ndarray, last_label: np.ndarray,
                       projections: dict[str, Callable[[np.ndarray], np.ndarray]],
                       n_neighbors: int = AutoencoderConfig.quality_neighbors,
                       max_points: int = AutoencoderConfig.quality_max_points,
                       seed: int = AutoencoderConfig.seed) -> dict[str, dict[str, float]]:
    """Trustworthiness on the training vectors and on the last-step states, and kNN class
    agreement of the last-step codes, for every projection (name -> function (M, H) -> (M, k)).

    The entry ``hidden`` holds the kNN agreement in the original space, the reference.
    """
    idx = _subsample(len(train_vectors), max_points, seed)
    Xs = np.asarray(train_vectors)[idx]
    out: dict[str, dict[str, float]] = {}
    for name, f in projections.items():
        out[name] = {
            "trustworthiness_steps": trustworthiness(Xs, f(Xs), n_neighbors, 0, seed),
            "trustworthiness_last": trustworthiness(last_hidden, f(last_hidden), n_neighbors, max_points, seed),
            "knn_agreement_last": knn_agreement(f(last_hidden), last_label, n_neighbors),
        }
    out["hidden"] = {"knn_agreement_last": knn_agreement(last_hidden, last_label, n_neighbors)}
    return out
