"""Groups of points and a flat map of them, in numpy alone: k-means, the silhouette that picks k,
and the two principal axes.

Pure arithmetic on unit vectors (papers' mean embeddings), so the briefing can group a listing
without a model and without another dependency. Every random choice draws from one seeded
generator: the same points always give the same groups.
"""

from __future__ import annotations

import numpy as np

SEED = 0
RESTARTS = 4
"""k-means runs from this many k-means++ starts; the tightest is kept."""
MAX_ROUNDS = 100
SILHOUETTE_SAMPLE = 2000
"""Past this many points the silhouette is measured on a seeded sample (its cost grows as n²)."""


def kmeans(points: np.ndarray, k: int, seed: int = SEED) -> np.ndarray:
    """Each point's group, 0..k-1: the tightest of `RESTARTS` runs from k-means++ starts."""
    rng = np.random.default_rng(seed)
    best, best_inertia = None, np.inf
    for _ in range(RESTARTS):
        labels, inertia = _lloyd(points, _plus_plus(points, k, rng))
        if inertia < best_inertia - 1e-12:
            best, best_inertia = labels, inertia
    return best


def _plus_plus(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++: each next centre drawn with probability proportional to its squared distance
    from the nearest centre chosen so far."""
    centres = [points[rng.integers(len(points))]]
    nearest = ((points - centres[0]) ** 2).sum(axis=1)
    for _ in range(1, k):
        total = nearest.sum()
        pick = rng.choice(len(points), p=nearest / total) if total > 0 else rng.integers(len(points))
        centres.append(points[pick])
        nearest = np.minimum(nearest, ((points - points[pick]) ** 2).sum(axis=1))
    return np.array(centres)


def _lloyd(points: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, float]:
    labels = np.full(len(points), -1)
    for _ in range(MAX_ROUNDS):
        distances = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        new = distances.argmin(axis=1)
        for group in range(len(centres)):
            if not (new == group).any():  # an emptied group takes the point farthest from its centre
                far = distances[np.arange(len(points)), new].argmax()
                new[far] = group
                distances[far] = 0.0
        if (new == labels).all():
            break
        labels = new
        centres = np.array([points[labels == group].mean(axis=0) for group in range(len(centres))])
    inertia = float(((points - centres[labels]) ** 2).sum())
    return labels, inertia


def silhouette(points: np.ndarray, labels: np.ndarray, seed: int = SEED) -> float:
    """Mean silhouette under cosine distance (points are unit vectors): how much closer each point
    is to its own group than to the next one, -1..1; a point alone in its group counts 0."""
    if len(points) > SILHOUETTE_SAMPLE:
        keep = np.random.default_rng(seed).choice(len(points), SILHOUETTE_SAMPLE, replace=False)
        points, labels = points[keep], labels[keep]
    distances = 1.0 - points @ points.T
    groups = np.unique(labels)
    if len(groups) < 2:
        return 0.0
    sizes = np.array([(labels == g).sum() for g in groups])
    # mean distance from each point to each group (its own: without itself)
    sums = np.stack([distances[:, labels == g].sum(axis=1) for g in groups], axis=1)
    own = np.searchsorted(groups, labels)
    rows = np.arange(len(points))
    own_size = sizes[own] - 1
    inside = np.where(own_size > 0, sums[rows, own] / np.maximum(own_size, 1), 0.0)
    means = sums / sizes
    means[rows, own] = np.inf
    outside = means.min(axis=1)
    scores = np.where(own_size > 0, (outside - inside) / np.maximum(np.maximum(outside, inside), 1e-12), 0.0)
    return float(scores.mean())


def best_grouping(points: np.ndarray, ks: range, seed: int = SEED) -> np.ndarray:
    """The k-means grouping with the highest silhouette among `ks` (the fewer groups on a tie)."""
    scored = [(silhouette(points, labels := kmeans(points, k, seed), seed), -k, labels) for k in ks]
    return max(scored, key=lambda item: item[:2])[2]


def plane(points: np.ndarray) -> np.ndarray:
    """Each point on the plane of its two principal axes (PCA by SVD), signs fixed so that the same
    points always give the same map."""
    centred = points - points.mean(axis=0)
    if len(points) < 2:
        return np.zeros((len(points), 2))
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    axes = axes[:2]
    axes *= np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])[:, None]
    flat = centred @ axes.T
    return np.pad(flat, ((0, 0), (0, 2 - flat.shape[1])))
