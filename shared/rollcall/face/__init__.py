"""Faces: image decoding and checks, detection, encoding, quality, one-to-one matching."""
