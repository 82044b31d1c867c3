"""Attendance prediction: synthetic history, features, training, evaluation, registry, predictor."""
