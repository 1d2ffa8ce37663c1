"""Offline training scripts that build the classifiers' committed model files."""
