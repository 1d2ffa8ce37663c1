"""The pipeline's view of the classifiers: per-community cascades, run off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from bot.core.model import AttachmentKind, IncomingMessage, Label, Verdict
from bot.core.rules import RuleSet, SpamRules
from classifiers.cascade import Cascade, Corroboration
from classifiers.contract import Classifier, Sample

ClassifierFactory = Callable[[SpamRules], Sequence[Classifier]]


def to_sample(message: IncomingMessage, skip_spam: bool) -> Sample:
    """What the classifiers get from a message."""
    media = tuple(a for a in message.attachments if a is not AttachmentKind.LINK)
    return Sample(
        text=message.text,
        links=message.links,
        mentions=message.mentions,
        has_media=bool(media),
        skip=frozenset({Label.SPAM}) if skip_spam else frozenset(),
    )


class CascadeScoring:
    """Implements the pipeline's ScoringEngine with per-community classifier cascades."""

    def __init__(self, rules: Callable[[], RuleSet], factory: ClassifierFactory, threads: int = 1):
        self._rules, self._factory = rules, factory
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="classify")
        self._cache: dict[str, tuple[SpamRules, dict[Label, float], Cascade]] = {}

    async def score(
        self, messages: Sequence[IncomingMessage], skip_spam: Sequence[bool]
    ) -> list[Verdict]:
        """One verdict per message, computed in the worker pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.score_now, messages, skip_spam)

    def score_now(
        self, messages: Sequence[IncomingMessage], skip_spam: Sequence[bool]
    ) -> list[Verdict]:
        """Synchronous scoring (CLI and the worker pool)."""
        results: list[Verdict | None] = [None] * len(messages)
        for community, indexes in _by_community(messages).items():
            cascade = self._for_community(community)
            samples = [to_sample(messages[i], skip_spam[i]) for i in indexes]
            for i, verdict in zip(indexes, cascade.run(samples), strict=True):
                results[i] = verdict
        return [v for v in results if v is not None]

    def close(self) -> None:
        """Stop the worker pool."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _for_community(self, community: str) -> Cascade:
        rules = self._rules()
        try:
            effective = rules.for_community(community)
        except KeyError:  # removed by a reload; the pipeline skips it, scores stay harmless
            effective = rules.for_community(rules.communities[0].name)
        cached = self._cache.get(community)
        if cached is None or cached[:2] != (effective.spam, effective.thresholds):
            cascade = Cascade(
                self._factory(effective.spam), effective.thresholds, corroboration=Corroboration()
            )
            cached = (effective.spam, effective.thresholds, cascade)  # rebuilt after a reload
            self._cache[community] = cached
        return cached[2]


def _by_community(messages: Sequence[IncomingMessage]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for index, message in enumerate(messages):
        groups.setdefault(message.community, []).append(index)
    return groups
