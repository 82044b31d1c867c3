"""What a face is to the class: its status, and why an unknown face is unknown.

Apart from rollcall.face.match (numpy) so that the services and the API can name statuses without
importing numpy at cold start; the rules that set them are in rollcall.face.match.
"""

from __future__ import annotations

from enum import StrEnum


class FaceStatus(StrEnum):
    PRESENT = "present"
    UNCERTAIN = "uncertain"
    UNKNOWN = "unknown"


class Unmatched(StrEnum):
    """Why a face is unknown."""

    # Nobody of the class has an enrolled face.
    NO_ENROLLED_STUDENTS = "NO_ENROLLED_STUDENTS"
    # The nearest student is beyond the uncertain threshold.
    NO_STUDENT_WITHIN_THRESHOLD = "NO_STUDENT_WITHIN_THRESHOLD"
    # Every student within the threshold was assigned to another face (one face per student).
    STUDENT_MATCHED_TO_ANOTHER_FACE = "STUDENT_MATCHED_TO_ANOTHER_FACE"


def status_of(distance: float, confident: float, uncertain: float) -> FaceStatus:
    """What a distance to a student makes of a face, by the thresholds alone."""
    if distance <= confident:
        return FaceStatus.PRESENT
    return FaceStatus.UNCERTAIN if distance <= uncertain else FaceStatus.UNKNOWN
