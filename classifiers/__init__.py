"""Spam, question and negative classifiers for community messages; usable without the bot."""

from classifiers.cascade import DEFAULT_THRESHOLDS, Cascade, classify_safely, combine
from classifiers.contract import Classifier, Label, Sample, Score, Verdict
from classifiers.heuristics import HeuristicConfig, KeywordClassifier, load_stop_words

__all__ = [
    "DEFAULT_THRESHOLDS",
    "Cascade",
    "Classifier",
    "HeuristicConfig",
    "KeywordClassifier",
    "Label",
    "Sample",
    "Score",
    "Verdict",
    "classify_safely",
    "combine",
    "load_stop_words",
]
