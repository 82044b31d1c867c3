"""Anomaly detection over one organisation's attendance, markings, corrections and model.

The detectors are pure functions of :class:`~rollcall.anomaly.inputs.ScanInputs` (gathered by
``rollcall.services.scanning`` from the store) and the thresholds of
:class:`~rollcall.platform.settings.AnomalyScanSettings` (``ANOMALY_*``);
:func:`rollcall.anomaly.detect.detect` runs them all. The rules with their defaults (each module says more):

- ``attendance_drop`` (student): the last 14 days against the student's own history, z ≥ 2.5 and
  at least 30 points lower. Medium; high at most 50 %; critical at most 20 %.
- ``chronic_absence`` (student): under 60 % over the last 28 days (at least 8 sessions).
  Medium; high under 40 %; critical under 20 %.
- ``session_collapse`` (session): at least 3 sd and 20 points below the class's other sessions.
  Medium; high at most half the class's usual rate.
- ``proxy_attendance`` (student): present in overlapping sessions at two locations (high); a face
  within the confident threshold of two students (medium); 3 or more face-based absences corrected
  to present in 28 days (medium; high at 6).
- ``unusual_checkin`` (student; session for a late photo): an arrival over 20 minutes (or the usual
  window's width) outside the student's p10-p90 (low; medium an hour out); a face record written
  over 60 minutes outside its session (medium; low for a whole photo marked late).
- ``matching_health`` (org): the last day's share of uncertain and unknown faces at least 2x its
  30-day share, at least 5 % and 50 faces. Medium; high at 4x; critical at 50 %.
- ``model_drift`` (model): a feature's PSI above 0.2 (last 14 days against training), or observed
  attendance 0.05 or more from predicted. Medium; high at PSI 0.5 or a gap of 0.10.

High and critical anomalies are alerted, one SQS message each.
"""
