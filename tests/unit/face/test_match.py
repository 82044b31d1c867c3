"""Distances, the one-to-one assignment (checked against SciPy's), and the status rules."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment as scipy_assignment

from rollcall.face.match import (
    FaceStatus,
    Gallery,
    Unmatched,
    linear_sum_assignment,
    match_faces,
    similarity,
)

from .support import random_embeddings

CONFIDENT, UNCERTAIN = 0.5, 0.6


def near(vector: np.ndarray, distance: float, seed: int) -> np.ndarray:
    """A vector exactly ``distance`` from ``vector``, in a random direction."""
    step = np.random.default_rng(seed).standard_normal(128).astype(np.float32)
    return (vector + step / np.linalg.norm(step) * distance).astype(np.float32)


@pytest.mark.parametrize("seed", range(300))
def test_assignment_cost_equals_scipys_on_random_matrices(seed: int) -> None:
    # Given a random rectangular matrix (wider, taller or square; real values or many ties)
    rng = np.random.default_rng(seed)
    shape = tuple(rng.integers(1, 13, 2))
    cost = rng.random(shape) if seed % 3 else rng.integers(0, 4, shape).astype(float)
    # When both solve it
    rows, cols = linear_sum_assignment(cost)
    expected_rows, expected_cols = scipy_assignment(cost)
    # Then a valid one-to-one assignment of min(n, m) pairs, rows ascending, of the same total cost
    assert len(rows) == min(shape)
    assert len(set(rows.tolist())) == len(rows)
    assert len(set(cols.tolist())) == len(cols)
    assert list(rows) == sorted(rows)
    assert cost[rows, cols].sum() == pytest.approx(cost[expected_rows, expected_cols].sum())


def test_assignment_of_empty_and_invalid_matrices() -> None:
    rows, cols = linear_sum_assignment(np.zeros((0, 5)))
    assert len(rows) == len(cols) == 0
    with pytest.raises(ValueError, match="finite"):
        linear_sum_assignment([[0.1, np.inf]])


def test_distances_are_face_recognitions_and_a_student_counts_their_closest_embedding() -> None:
    # Given students with 1 to 3 embeddings each, listed out of order
    import face_recognition

    vectors = random_embeddings(7, seed=1)
    owners = ["b", "a", "c", "a", "b", "a", "d"]
    gallery = Gallery(vectors, owners)
    probes = random_embeddings(3, seed=2)
    # When distances are computed
    distances = gallery.distances(probes)
    # Then each student's distance is face_recognition's distance to their closest embedding
    assert gallery.student_ids == ("a", "b", "c", "d")
    assert gallery.embedding_count == 7
    for i, probe in enumerate(probes):
        reference = face_recognition.face_distance(vectors, probe)
        for j, student in enumerate(gallery.student_ids):
            closest = min(reference[k] for k, owner in enumerate(owners) if owner == student)
            assert distances[i, j] == pytest.approx(closest, abs=1e-5)


def test_statuses_follow_the_thresholds() -> None:
    # Given three students and faces at 0.3, 0.55 and 0.7 from three of them
    students = random_embeddings(3, seed=3)
    gallery = Gallery(students, ["s1", "s2", "s3"])
    faces = np.stack([near(students[0], 0.3, 1), near(students[1], 0.55, 2), near(students[2], 0.7, 3)])
    # When matched
    matches = match_faces(faces, gallery, CONFIDENT, UNCERTAIN)
    # Then present, uncertain, unknown (with the distance to the nearest student, and why)
    assert [(m.student_id, m.status, m.reason) for m in matches] == [
        ("s1", FaceStatus.PRESENT, None),
        ("s2", FaceStatus.UNCERTAIN, None),
        (None, FaceStatus.UNKNOWN, Unmatched.NO_STUDENT_WITHIN_THRESHOLD),
    ]
    assert [round(m.distance or 0, 3) for m in matches] == [0.3, 0.55, 0.7]


def test_two_faces_never_get_one_student_and_the_assignment_is_optimal() -> None:
    # Given s1 and s2, face A 0.20 from s1 and 0.45 from s2, face B 0.30 from s1 and 0.72 from s2
    e = np.eye(128, dtype=np.float32)
    s1, s2 = e[0], e[0] + 0.65 * e[1]
    face_a, face_b = e[0] + 0.2 * e[1], e[0] + 0.3 * e[2]
    gallery = Gallery([s1, s2], ["s1", "s2"])
    # When both faces are matched (both are nearest to s1)
    matches = match_faces([face_a, face_b], gallery, CONFIDENT, UNCERTAIN)
    # Then each student once, both faces recognised: B takes s1 (its only candidate), A takes s2
    assert [m.student_id for m in matches] == ["s2", "s1"]
    assert [round(m.distance or 0, 3) for m in matches] == [0.45, 0.3]
    assert all(m.status is FaceStatus.PRESENT for m in matches)


def test_a_face_that_lost_its_only_candidate_is_unknown() -> None:
    # Given one student and two faces near them (0.1 and 0.3)
    (s1,) = random_embeddings(1, seed=8)
    gallery = Gallery([s1], ["s1"])
    matches = match_faces([near(s1, 0.3, 9), near(s1, 0.1, 10)], gallery, CONFIDENT, UNCERTAIN)
    # Then the closer face is the student; the other is unknown, with its distance and why
    assert [(m.student_id, m.status, m.reason) for m in matches] == [
        (None, FaceStatus.UNKNOWN, Unmatched.STUDENT_MATCHED_TO_ANOTHER_FACE),
        ("s1", FaceStatus.PRESENT, None),
    ]
    assert matches[0].distance == pytest.approx(0.3, abs=1e-4)


@pytest.mark.parametrize("seed", range(25))
def test_random_crowds_match_scipy_and_never_share_a_student(seed: int) -> None:
    # Given 15 students and 20 faces, most near some student, several near the same one
    rng = np.random.default_rng(seed)
    students = random_embeddings(15, seed=100 + seed)
    gallery = Gallery(students, [f"s{i:02d}" for i in range(15)])
    targets = rng.integers(0, 15, 20)
    faces = np.stack(
        [near(students[t], rng.uniform(0.1, 0.8), 1000 * seed + i) for i, t in enumerate(targets)]
    )
    # When matched
    matches = match_faces(faces, gallery, CONFIDENT, UNCERTAIN)
    # Then no student twice, every match within the uncertain threshold ...
    assigned = [m.student_id for m in matches if m.student_id]
    assert len(assigned) == len(set(assigned))
    assert all(m.distance is not None and m.distance <= UNCERTAIN for m in matches if m.student_id)
    # ... and as many pairs, of the same total distance, as SciPy on the same problem
    d = gallery.distances(faces).astype(np.float64)
    cost = np.where(d <= UNCERTAIN, d, 1000.0)
    rows, cols = scipy_assignment(cost)
    valid = cost[rows, cols] <= UNCERTAIN
    assert len(assigned) == valid.sum()
    assert sum(m.distance or 0 for m in matches if m.student_id) == pytest.approx(
        cost[rows, cols][valid].sum()
    )


def test_no_faces_or_nobody_enrolled() -> None:
    empty = Gallery.from_faces([])
    assert len(empty) == 0
    assert match_faces(np.zeros((0, 128)), empty, CONFIDENT, UNCERTAIN) == []
    (only,) = match_faces(random_embeddings(1), empty, CONFIDENT, UNCERTAIN)
    assert (only.student_id, only.distance, only.status) == (None, None, FaceStatus.UNKNOWN)
    assert only.reason is Unmatched.NO_ENROLLED_STUDENTS


def test_similarity_is_0_8_at_the_confident_threshold_0_5_at_the_uncertain_and_falls_with_distance() -> None:
    distances = np.linspace(0, 2, 201)
    scores = similarity(distances, CONFIDENT, UNCERTAIN)
    assert similarity([CONFIDENT, UNCERTAIN], CONFIDENT, UNCERTAIN) == pytest.approx([0.8, 0.5])
    assert np.all(np.diff(scores) < 0)
    assert 0.99 < scores[0] <= 1 and 0 <= scores[-1] < 0.0001
    # other thresholds move the curve with them; equal thresholds do not divide by zero
    assert similarity([0.4, 0.7], 0.4, 0.7) == pytest.approx([0.8, 0.5])
    assert np.isfinite(similarity(distances, 0.5, 0.5)).all()


def test_nearest_other_skips_the_student_themself() -> None:
    s1, s2 = random_embeddings(2, seed=11)
    gallery = Gallery([s1, near(s1, 0.01, 12), s2], ["me", "me", "other"])
    probe = near(s1, 0.05, 13)
    assert gallery.nearest_other(probe)[0] == "me"  # type: ignore[index]
    student, distance = gallery.nearest_other(probe, exclude_student="me")  # type: ignore[misc]
    assert student == "other"
    assert distance == pytest.approx(float(np.linalg.norm(probe - s2)), abs=1e-5)
    assert Gallery([s1], ["me"]).nearest_other(probe, exclude_student="me") is None


def test_gallery_refuses_mismatched_ids() -> None:
    with pytest.raises(ValueError, match="2 embeddings for 1"):
        Gallery(random_embeddings(2), ["a"])
