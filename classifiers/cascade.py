"""Run several classifiers cheapest first and merge their scores into one verdict per text."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType

from classifiers.contract import SCORED_LABELS, Classifier, Label, Sample, Score, Verdict

# Spam needs the most certainty because its action (delete, strike) is the harshest.
DEFAULT_THRESHOLDS: Mapping[Label, float] = MappingProxyType(
    {Label.SPAM: 0.85, Label.NEGATIVE: 0.6, Label.QUESTION: 0.5}
)


def combine(scores: Iterable[Score], thresholds: Mapping[Label, float] | None = None) -> Verdict:
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


class Corroboration:
    """Learned models alone may not push a label over its threshold: the rule checks must agree.

    A model trained on a few spam sources learns their quirks ("hello everyone" opens much English
    crypto spam), so an ordinary greeting can score high. Without any supporting evidence from the
    named checks, such a score is capped just below the threshold: a human reviews it instead of
    the bot deleting it (tg-spam's split of hard checks and vetoable ones).
    """

    def __init__(
        self,
        label: Label = Label.SPAM,
        checks: str = "heuristics",
        evidence: float = 0.2,
        margin: float = 0.05,
    ) -> None:
        self.label, self.checks, self.evidence, self.margin = label, checks, evidence, margin

    def apply(
        self, scores: Sequence[Score], thresholds: Mapping[Label, float]
    ) -> tuple[Score, ...]:
        """The scores, with uncorroborated model scores for the label capped."""
        support = max(
            (
                s.score
                for s in scores
                if s.ok and s.label == self.label and s.classifier == self.checks
            ),
            default=0.0,
        )
        if support >= self.evidence:
            return tuple(scores)
        cap = thresholds.get(self.label, 0.5) - self.margin
        return tuple(self._capped(s, cap) for s in scores)

    def _capped(self, score: Score, cap: float) -> Score:
        if score.label != self.label or score.classifier == self.checks or score.score <= cap:
            return score
        note = f"{score.classifier}: capped at {cap:.2f} without rule-check evidence"
        return Score(score.classifier, score.label, cap, (*score.details, note), score.error)


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
        corroboration: Corroboration | None = None,
    ) -> None:
        """Keep the classifiers in the order given, with thresholds defaulting per label."""
        self.classifiers = tuple(classifiers)
        self.thresholds: Mapping[Label, float] = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
        self.settle_on = frozenset(settle_on)
        self.corroboration = corroboration

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
        if self.corroboration is not None:
            return [self.corroboration.apply(scores, self.thresholds) for scores in collected]
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


def align(score: float, own: float, target: float) -> float:
    """Map a score so the classifier's own threshold lands on the cascade's, keeping the order."""
    if own <= 0.0 or own >= 1.0:
        return score
    if score < own:
        return score / own * target
    return target + (score - own) / (1.0 - own) * (1.0 - target)


class Aligned:
    """A classifier whose scores are rescaled so that its own thresholds meet the cascade's.

    Trained heads pick their own best thresholds (the n-gram spam head: 0.42); rules.yaml speaks
    in one scale for every classifier, so each head is aligned before scores are combined.
    """

    def __init__(
        self,
        classifier: Classifier,
        own: Mapping[Label, float],
        target: Mapping[Label, float] | None = None,
    ) -> None:
        self.classifier = classifier
        self.name = getattr(classifier, "name", type(classifier).__name__)
        self.own = dict(own)
        self.target = dict(DEFAULT_THRESHOLDS if target is None else target)

    def classify(self, samples: Sequence[Sample]) -> list[tuple[Score, ...]]:
        """The wrapped classifier's scores, rescaled per label."""
        return [
            tuple(self._rescale(s) for s in scores) for scores in self.classifier.classify(samples)
        ]

    def _rescale(self, score: Score) -> Score:
        own, target = self.own.get(score.label), self.target.get(score.label)
        if own is None or target is None or not score.ok:
            return score
        aligned = align(score.score, own, target)
        return Score(score.classifier, score.label, aligned, score.details, score.error)
