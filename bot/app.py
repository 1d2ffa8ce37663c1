"""The composition root: the one place that builds storage, classifiers and the pipeline."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.core.pipeline import Pipeline, PipelineConfig, SystemClock
from bot.core.ports import Actions, Clock
from bot.core.rules import SpamRules
from bot.moderation.desk import Desk
from bot.rules_file import RulesSource
from bot.scoring import CascadeScoring, ClassifierFactory
from bot.settings import ClassifierSettings, Settings
from bot.storage.migrate import database_revision, head_revision
from bot.storage.store import SqlStore, create_store
from classifiers.cascade import Aligned
from classifiers.contract import Classifier
from classifiers.heuristics import HeuristicConfig, KeywordClassifier, load_stop_words
from classifiers.ngram import NgramClassifier

log = logging.getLogger(__name__)

BUNDLED_STOP_WORDS = (
    Path(__file__).resolve().parent.parent / "classifiers" / "data" / "stop-words.txt"
)


class StartupError(Exception):
    """The service cannot start; the message says why in one line."""


def shared_stop_words() -> tuple[str, ...]:
    """The stop phrases bundled with smmbot (from tg-spam, MIT)."""
    return load_stop_words(BUNDLED_STOP_WORDS)


def trained_models(settings: ClassifierSettings) -> list[Classifier]:
    """The trained models after the cheap checks, each aligned to the cascade's thresholds."""
    if settings.model == "heuristics":
        return []
    ngram = NgramClassifier()
    return [Aligned(ngram, ngram.thresholds)]


def make_classifier_factory(settings: ClassifierSettings) -> ClassifierFactory:
    """Build the per-community classifier cascade: cheap checks first, the models after."""
    shared = shared_stop_words()
    models = trained_models(settings)  # loaded once, shared by every community

    def factory(spam: SpamRules) -> Sequence[Classifier]:
        words = tuple(spam.stop_words) + (shared if spam.use_shared_stop_words else ())
        config = HeuristicConfig(
            stop_words=words,
            allowed_domains=spam.allow_domains,
            blocked_domains=spam.block_domains,
        )
        return [KeywordClassifier(config), *models]

    return factory


def default_classifiers(settings: ClassifierSettings | None = None) -> list[Classifier]:
    """The classifiers `smmbot classify` uses when no rules apply."""
    config = HeuristicConfig(stop_words=shared_stop_words())
    return [KeywordClassifier(config), *trained_models(settings or ClassifierSettings())]


async def open_store(settings: Settings, clock: Clock | None = None) -> SqlStore:
    """Open the database; SQLite is migrated in place, PostgreSQL must be upgraded explicitly."""
    url = settings.database_url
    if url.startswith("sqlite"):
        return await create_store(url, clock=clock)
    revision = await database_revision(url)
    if revision != head_revision():
        raise StartupError(
            f"the database is at revision {revision or 'none'}, the code needs {head_revision()}: "
            "run `smmbot db upgrade` first"
        )
    return await create_store(url, migrate=False, clock=clock)


@dataclass
class Core:
    """The platform-neutral service: storage, rules, classifiers, pipeline and moderators' desk."""

    store: SqlStore
    rules: RulesSource
    scoring: CascadeScoring
    pipeline: Pipeline
    desk: Desk

    async def close(self) -> None:
        """Release the worker pool and the database connections."""
        self.scoring.close()
        await self.store.close()


async def build_core(
    settings: Settings,
    rules: RulesSource,
    actions: Actions,
    *,
    clock: Clock | None = None,
    dry_run: bool = False,
) -> Core:
    """Wire storage, classifiers and the pipeline around one Actions implementation."""
    clock = clock or SystemClock()
    store = await open_store(settings, clock)
    factory = make_classifier_factory(settings.classifier)
    scoring = CascadeScoring(rules, factory, threads=1)
    pipeline = Pipeline(store, scoring, actions, rules, clock, PipelineConfig(dry_run=dry_run))
    desk = Desk(store, clock, lambda: rules.rules.language, pipeline.wake)
    return Core(store, rules, scoring, pipeline, desk)
