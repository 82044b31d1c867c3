"""Matching the faces of a photo to enrolled students: distances, then a one-to-one assignment.

Distances are Euclidean between 128-d embeddings, as face_recognition's ``face_distance``,
computed for all faces and all embeddings at once as ``|p|² + |g|² - 2 p·g`` (one float32 matrix
product; the gallery's squared norms are computed once, when the :class:`Gallery` is built). A
student may have several embeddings (``FACE_MAX_FACES_PER_STUDENT``); their distance is that of
their closest one: the gallery keeps each student's rows together, so this is one
``np.minimum.reduceat`` over the distance matrix.

Assignment: two faces can be close to one student (twins, look-alikes, a poster on the wall)
and one face close to two students. Taking each face's nearest student would mark one student
present twice and leave another absent; so faces and students are paired one-to-one by an
optimal assignment (Hungarian / Jonker-Volgenant shortest augmenting paths, :func:`linear_sum_assignment`,
verified against SciPy's in the tests; SciPy is 140 MB installed, too much for the face layer):
as many faces as possible are paired with a student within the uncertain threshold, and among
such pairings the one with the least total distance is taken. Only faces and students with some
distance within the threshold take part, so the matrix solved is the size of the photo's
ambiguity, not of the class; when every face's nearest student is different, that is already
the optimum and nothing is solved.

Status of a face: its student's distance ≤ confident threshold → present; ≤ uncertain → uncertain
(recorded for review); otherwise, or when it lost its student to a closer face, unknown. An
unknown face says why (:class:`Unmatched`): nobody is enrolled, nobody is within the uncertain
threshold, or every student within it was assigned to another face.

:func:`similarity` turns distances into a score on 0-1 like every other score of the API (higher
is more alike): 0.8 at the confident threshold, 0.5 at the uncertain one (a logistic curve through
both).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from rollcall.face.status import FaceStatus, Unmatched, status_of

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray


@dataclass(frozen=True, slots=True)
class Match:
    student_id: str | None
    # To the assigned student; for an unknown face, to the nearest student (who may be assigned to
    # another face, or beyond the threshold); None when nobody is enrolled.
    distance: float | None
    status: FaceStatus
    reason: Unmatched | None = None  # set when the status is unknown


class Gallery:
    """The enrolled embeddings faces are matched against: build once per class or session, reuse."""

    def __init__(self, embeddings: ArrayLike, student_ids: Sequence[str]) -> None:
        vectors = np.asarray(embeddings, dtype=np.float32).reshape(-1, 128)
        if len(vectors) != len(student_ids):
            raise ValueError(f"{len(vectors)} embeddings for {len(student_ids)} student ids")
        students, owner = np.unique(np.asarray(student_ids, dtype=object), return_inverse=True)
        order = np.argsort(owner, kind="stable")
        self.student_ids: tuple[str, ...] = tuple(students)
        self._vectors = np.ascontiguousarray(vectors[order])
        self._squared_norms = np.einsum("ij,ij->i", self._vectors, self._vectors)
        owner = owner[order]
        starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]]) if len(owner) else owner
        # With one embedding per student the per-student minimum is the identity: skip it.
        self._starts = None if len(starts) == len(owner) else starts

    @classmethod
    def from_faces(cls, faces: Iterable[tuple[str, ArrayLike]]) -> Gallery:
        """From (student_id, embedding) pairs, e.g. the face records of a class."""
        pairs = list(faces)
        vectors = np.zeros((len(pairs), 128), np.float32)
        for row, (_, embedding) in enumerate(pairs):
            vectors[row] = np.asarray(embedding, np.float32).reshape(128)
        return cls(vectors, [student for student, _ in pairs])

    def __len__(self) -> int:
        return len(self.student_ids)

    @property
    def embedding_count(self) -> int:
        return len(self._vectors)

    def distances(self, probes: ArrayLike) -> NDArray[np.float32]:
        """(n faces, n students): each student's distance is that of their closest embedding."""
        p = np.asarray(probes, dtype=np.float32).reshape(-1, 128)
        squared = self._vectors @ p.T  # (m, n): the gallery's rows are contiguous, so this is one GEMM
        squared *= -2
        squared += self._squared_norms[:, None]
        squared += np.einsum("ij,ij->i", p, p)[None, :]
        if self._starts is not None:
            squared = np.minimum.reduceat(squared, self._starts, axis=0)
        np.maximum(squared, 0, out=squared)  # rounding can make a zero distance slightly negative
        return np.sqrt(squared, out=squared).T

    def nearest_other(
        self, embedding: ArrayLike, exclude_student: str | None = None
    ) -> tuple[str, float] | None:
        """The closest student other than ``exclude_student`` and their distance (DUPLICATE_FACE checks)."""
        if not len(self):
            return None
        distances = self.distances(embedding)[0]
        if exclude_student is not None and exclude_student in self.student_ids:
            distances[self.student_ids.index(exclude_student)] = np.inf
        best = int(distances.argmin())
        return (self.student_ids[best], float(distances[best])) if np.isfinite(distances[best]) else None


def match_faces(probes: ArrayLike, gallery: Gallery, confident: float, uncertain: float) -> list[Match]:
    """One :class:`Match` per probe face, in order (see the module docstring for the rules)."""
    count = len(np.asarray(probes).reshape(-1, 128))
    if count == 0:
        return []
    if not len(gallery):
        return [Match(None, None, FaceStatus.UNKNOWN, Unmatched.NO_ENROLLED_STUDENTS)] * count
    distances = gallery.distances(probes)
    nearest = distances.argmin(axis=1)
    nearest_distance = distances[np.arange(count), nearest]
    assigned = _assign(distances, nearest, nearest_distance <= uncertain, uncertain)
    matches = []
    for face in range(count):
        student = assigned.get(face)
        if student is None:
            reason = (
                Unmatched.STUDENT_MATCHED_TO_ANOTHER_FACE
                if nearest_distance[face] <= uncertain
                else Unmatched.NO_STUDENT_WITHIN_THRESHOLD
            )
            matches.append(Match(None, float(nearest_distance[face]), FaceStatus.UNKNOWN, reason))
            continue
        distance = float(distances[face, student])
        matches.append(
            Match(gallery.student_ids[student], distance, status_of(distance, confident, uncertain))
        )
    return matches


def similarity(distances: ArrayLike, confident: float, uncertain: float) -> NDArray[np.float64]:
    """0-1 for each distance: 0.8 at ``confident``, 0.5 at ``uncertain``, towards 1 at 0.

    With the defaults (0.5, 0.6), one person's photos (at most 0.53 apart on the shared set)
    score 0.72 or more and two people (0.66 or more apart) 0.31 or less.
    """
    steepness = np.log(4) / max(uncertain - confident, 0.01)  # 1 / (1 + e^-k(u-c)) = 0.8
    d = np.asarray(distances, dtype=np.float64)
    return 1 / (1 + np.exp(steepness * (d - uncertain)))


def _assign(
    distances: NDArray[np.float32], nearest: NDArray[np.intp], has_candidate: NDArray[np.bool_], limit: float
) -> dict[int, int]:
    """face → student: the most pairs within ``limit``, and among those the least total distance."""
    faces = np.flatnonzero(has_candidate)
    if len(np.unique(nearest[faces])) == len(faces):  # no two faces want the same student
        return {int(f): int(nearest[f]) for f in faces}
    students = np.flatnonzero((distances[faces] <= limit).any(axis=0))
    sub = distances[np.ix_(faces, students)].astype(np.float64)
    allowed = sub <= limit
    # A forbidden pair costs more than any set of allowed pairs: the solver maximises their number first.
    cost = np.where(allowed, sub, (min(sub.shape) + 1) * (limit + 1))
    rows, cols = linear_sum_assignment(cost)
    keep = allowed[rows, cols]
    return {int(faces[r]): int(students[c]) for r, c in zip(rows[keep], cols[keep], strict=True)}


def linear_sum_assignment(cost: ArrayLike) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Minimum-cost one-to-one assignment of a rectangular cost matrix, as ``scipy.optimize``'s.

    Returns (rows, cols), rows ascending, ``min(n, m)`` pairs. Shortest augmenting paths with
    dual variables (Jonker-Volgenant; Crouse, IEEE TAES 2016, the algorithm SciPy uses): one
    path per row, each found by a Dijkstra search over the columns, vectorised over columns.
    """
    matrix = np.asarray(cost, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError("the cost matrix must be 2-d")
    if not np.isfinite(matrix).all():
        raise ValueError("the cost matrix must be finite")
    transposed = matrix.shape[0] > matrix.shape[1]
    if transposed:
        matrix = matrix.T
    n_rows, n_cols = matrix.shape
    u, v = np.zeros(n_rows), np.zeros(n_cols)
    col4row = np.full(n_rows, -1, dtype=np.intp)
    row4col = np.full(n_cols, -1, dtype=np.intp)
    for current in range(n_rows):
        shortest = np.full(n_cols, np.inf)
        path = np.full(n_cols, -1, dtype=np.intp)
        scanned = np.zeros(n_cols, dtype=bool)
        scanned_rows = []
        row, min_value = current, 0.0
        while True:  # Dijkstra from `current` until a free column is reached
            scanned_rows.append(row)
            reduced = min_value + matrix[row] - u[row] - v
            better = ~scanned & (reduced < shortest)
            path[better] = row
            shortest[better] = reduced[better]
            candidates = np.where(scanned, np.inf, shortest)
            min_value = candidates.min()
            ties = np.flatnonzero(candidates == min_value)
            free = ties[row4col[ties] < 0]
            col = int(free[0] if len(free) else ties[0])  # prefer a free column: the path ends sooner
            scanned[col] = True
            if row4col[col] < 0:
                break
            row = int(row4col[col])
        u[current] += min_value
        others = np.array(scanned_rows[1:], dtype=np.intp)
        u[others] += min_value - shortest[col4row[others]]
        v[scanned] -= min_value - shortest[scanned]
        while True:  # augment along the path back to `current`
            row = int(path[col])
            row4col[col] = row
            col4row[row], col = col, int(col4row[row])
            if row == current:
                break
    rows = np.arange(n_rows, dtype=np.intp)
    if not transposed:
        return rows, col4row
    order = np.argsort(col4row)
    return col4row[order], rows[order]
