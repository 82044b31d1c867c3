"""Anomaly detectors over attendance records and model inputs."""
