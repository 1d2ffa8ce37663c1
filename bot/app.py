"""The composition root: the one place that builds storage, classifiers and the pipeline."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.pipeline import Pipeline, PipelineConfig, SystemClock
from bot.core.ports import Actions, Clock
from bot.core.rules import SpamRules
from bot.moderation.desk import Desk
from bot.rules_file import RulesSource
from bot.scoring import CascadeScoring, ClassifierFactory
from bot.settings import ClassifierSettings, Settings
from bot.storage.migrate import database_revision, head_revision
from bot.storage.store import SqlStore, create_store
from classifiers.contract import Classifier
from classifiers.heuristics import HeuristicConfig, KeywordClassifier
from classifiers.standard import MODEL_SETS, bundled_stop_words, trained_models

log = logging.getLogger(__name__)


class StartupError(Exception):
    """The service cannot start; the message says why in one line."""


def make_classifier_factory(settings: ClassifierSettings) -> ClassifierFactory:
    """Build the per-community cascade: rule checks with the community's words, then models."""
    shared = bundled_stop_words()
    names = MODEL_SETS[settings.model]
    models = trained_models(names, cache_dir=settings.cache_dir, threads=settings.threads)

    def factory(spam: SpamRules) -> Sequence[Classifier]:
        words = tuple(spam.stop_words) + (shared if spam.use_shared_stop_words else ())
        config = HeuristicConfig(
            stop_words=words,
            allowed_domains=spam.allow_domains,
            blocked_domains=spam.block_domains,
        )
        return [KeywordClassifier(config), *models]  # models are shared by every community

    return factory


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
    config = PipelineConfig(dry_run=dry_run, worker_id=settings.worker_id)
    pipeline = Pipeline(store, scoring, actions, rules, clock, config)
    desk = Desk(store, clock, lambda: rules.rules.language, pipeline.wake)
    return Core(store, rules, scoring, pipeline, desk)
