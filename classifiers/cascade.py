"""Run several classifiers cheapest first and merge their scores into one verdict per text."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType

from classifiers.contract import SCORED_LABELS, Classifier, Label, Sample, Score, Verdict

# Spam needs the most certainty because its action (delete, strike) is the harshest.
DEFAULT_THRESHOLDS: Mapping[Label, float] = MappingProxyType(
    {Label.SPAM: 0.85, Label.NEGATIVE: 0.6, Label.QUESTION: 0.5}
)


def combine(
    scores: Iterable[Score], thresholds: Mapping[Label, float] | None = None
) -> Verdict:
    """Merge scores from any classifiers into a verdict with per-label decision thresholds."""
    limits = DEFAULT_THRESHOLDS if thresholds is None else thresholds
    return Verdict(tuple(scores), dict(limits))


def failed_scores(name: str, error: str) -> tuple[Score, ...]:
    """One error score per label, for a classifier that could not score a sample."""
    return tuple(Score(name, label, 0.0, (), error) for label in SCORED_LABELS)


def classify_safely(classifier: Classifier, samples: Sequence[Sample]) -> list[tuple[Score, ...]]:
    """Call a classifier, turning a crash or a wrong-sized answer into error scores."""
    name = getattr(classifier, "name", type(classifier).__name__)
    try:
        results = classifier.classify(samples)
        if len(results) != len(samples):
            raise ValueError(f"returned {len(results)} results for {len(samples)} samples")
        return [tuple(r) for r in results]
    except Exception as exc:  # a broken classifier degrades the verdict, never the pipeline
        error = f"{type(exc).__name__}: {exc}"
        return [failed_scores(name, error) for _ in samples]


class Cascade:
    """Classifiers in order, cheapest first, merged into one `Verdict` per sample."""

    # A sample already past the threshold of a `settle_on` label (spam by default) is not sent
    # to later, costlier classifiers; scores for labels in `Sample.skip` are dropped.
    name = "cascade"

    def __init__(
        self,
        classifiers: Sequence[Classifier],
        thresholds: Mapping[Label, float] | None = None,
        settle_on: Iterable[Label] = (Label.SPAM,),
    ) -> None:
        """Keep the classifiers in the order given, with thresholds defaulting per label."""
        self.classifiers = tuple(classifiers)
        self.thresholds: Mapping[Label, float] = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
        self.settle_on = frozenset(settle_on)

    def classify(self, samples: Sequence[Sample]) -> list[tuple[Score, ...]]:
        """All scores per sample from every classifier that ran, so a cascade nests."""
        collected: list[list[Score]] = [[] for _ in samples]
        for classifier in self.classifiers:
            pending = [i for i, s in enumerate(samples) if not self._settled(s, collected[i])]
            if not pending:
                break
            results = classify_safely(classifier, [samples[i] for i in pending])
            for i, scores in zip(pending, results, strict=True):
                collected[i].extend(s for s in scores if s.label not in samples[i].skip)
        return [tuple(scores) for scores in collected]

    def run(self, samples: Sequence[Sample]) -> list[Verdict]:
        """One verdict per sample, in input order."""
        return [combine(scores, self.thresholds) for scores in self.classify(samples)]

    def _settled(self, sample: Sample, scores: Sequence[Score]) -> bool:
        # Spam is acted on first and alone, so a later model cannot change what happens to it.
        if all(label in sample.skip for label in SCORED_LABELS):
            return True
        return any(
            s.ok and s.label in self.settle_on and s.score >= self.thresholds.get(s.label, 0.5)
            for s in scores
        )
