"""What people read from the bot, in Russian and English (chosen by `language:` in rules.yaml)."""

from __future__ import annotations

from typing import Final

TEXTS: Final[dict[str, dict[str, str]]] = {
    "rules-ok": {
        "en": "{path}: OK ({communities} communities)",
        "ru": "{path}: всё в порядке (сообществ: {communities})",
    },
    "rules-bad": {
        "en": "{path}: {count} problem(s); the rules were not accepted",
        "ru": "{path}: ошибок: {count}; правила не приняты",
    },
    "rules-reloaded": {
        "en": "Rules reloaded: {communities} communities.",
        "ru": "Правила перезагружены: сообществ {communities}.",
    },
    "rules-rejected": {
        "en": "The new rules.yaml was refused, the previous rules stay in force:\n{problems}",
        "ru": "Новый rules.yaml отклонён, действуют прежние правила:\n{problems}",
    },
    "no-platform": {
        "en": "No platform is configured: set SMMBOT_TELEGRAM__TOKEN or the VK tokens "
        "(see `smmbot run --help`).",
        "ru": "Не настроена ни одна платформа: задайте SMMBOT_TELEGRAM__TOKEN или токены VK "
        "(см. `smmbot run --help`).",
    },
    "platform-skipped": {
        "en": "{platform}: community {community!r} is in rules.yaml but has no token; skipped",
        "ru": "{platform}: сообщество {community!r} есть в rules.yaml, но нет токена; пропущено",
    },
    "label-spam": {"en": "spam", "ru": "спам"},
    "label-negative": {"en": "negative", "ru": "негатив"},
    "label-question": {"en": "question", "ru": "вопрос"},
    "label-other": {"en": "other", "ru": "прочее"},
    "action-reply": {"en": "reply", "ru": "ответ"},
    "action-delete": {"en": "delete", "ru": "удаление"},
    "action-ban": {"en": "ban", "ru": "бан"},
    "action-mute": {"en": "mute", "ru": "мьют"},
    "action-escalate": {"en": "escalate to moderators", "ru": "передать модераторам"},
    "demo-title": {
        "en": "smmbot demo: {count} real messages into local Telegram and VK emulators",
        "ru": "smmbot demo: {count} настоящих сообщений в локальные эмуляторы Telegram и VK",
    },
    "demo-summary": {
        "en": "Summary: {messages} messages · spam {spam} · negative {negative} · "
        "questions {question} · other {other}\n"
        "Actions: {reply} replies, {delete} deletions, {ban} bans/mutes, "
        "{escalate} escalations, {failed} failed\nDatabase: {database}\n"
        "Its report: {report}",
        "ru": "Итог: сообщений {messages} · спам {spam} · негатив {negative} · "
        "вопросы {question} · прочее {other}\n"
        "Действия: ответов {reply}, удалений {delete}, банов/мьютов {ban}, "
        "эскалаций {escalate}, ошибок {failed}\nБаза данных: {database}\n"
        "Отчёт по ней: {report}",
    },
    "demo-no-action": {"en": "no action", "ru": "без действий"},
    "demo-edited": {"en": "the author edited it into", "ru": "автор отредактировал на"},
    "demo-own-reply": {
        "en": "Hello! I'm the shop manager, I'll sort this out personally today.",
        "ru": "Здравствуйте! Я менеджер магазина, разберусь лично сегодня же.",
    },
    "demo-own-answer": {
        "en": "Good question! Let me check with the team and answer you here within the hour.",
        "ru": "Хороший вопрос! Уточню у коллег и отвечу здесь в течение часа.",
    },
    "demo-private": {"en": "private message", "ru": "личное сообщение"},
    "demo-channel-post": {
        "en": "Channel post (mirrored into the discussion group; never actioned)",
        "ru": "Пост канала (копия в группе обсуждения; бот его не трогает)",
    },
    "demo-moderator": {
        "en": "Moderator {name} works through the cards in the moderators' chat:",
        "ru": "Модератор {name} разбирает карточки в чате модераторов:",
    },
    "demo-dry-run": {"en": "dry run: planned only", "ru": "пробный режим: только план"},
    "desk-unknown": {
        "en": "This card is unknown or expired.",
        "ru": "Эта карточка неизвестна или устарела.",
    },
    "desk-already": {
        "en": "Already handled: {resolution} by {moderator}.",
        "ru": "Уже обработано: {resolution}, модератор {moderator}.",
    },
    "desk-no-suggestion": {
        "en": "There is no suggested reply; answer the card with your own text.",
        "ru": "Готового ответа нет; ответьте на карточку своим текстом.",
    },
    "desk-empty-reply": {
        "en": "Your reply is empty.",
        "ru": "Пустой ответ.",
    },
    "desk-done": {"en": "Done: {resolution}.", "ru": "Готово: {resolution}."},
    "resolution-send": {"en": "suggested reply sent", "ru": "отправлен готовый ответ"},
    "resolution-reply": {"en": "moderator's reply sent", "ru": "отправлен ответ модератора"},
    "resolution-delete": {"en": "message deleted", "ru": "сообщение удалено"},
    "resolution-ban": {"en": "author banned", "ru": "автор забанен"},
    "resolution-fine": {"en": "marked as fine", "ru": "помечено как нормальное"},
    "config-error": {"en": "Configuration error: {error}", "ru": "Ошибка настройки: {error}"},
    "worker-id-in-use": {
        "en": "worker id {worker!r} is in use by process {holder}: give each process on this "
        "database its own SMMBOT_WORKER_ID",
        "ru": "идентификатор {worker!r} уже занят процессом {holder}: задайте каждому процессу "
        "с этой базой свой SMMBOT_WORKER_ID",
    },
    "db-upgraded": {
        "en": "Database {database} is at the current schema ({revision}).",
        "ru": "База данных {database} приведена к текущей схеме ({revision}).",
    },
    "classify-empty": {"en": "No texts to classify.", "ru": "Нет текстов для классификации."},
    "help": {
        "en": "smmbot looks after {communities}.\n"
        "Cards: send the suggested reply, delete, ban, or mark as fine; reply to a card with text "
        "to answer the customer yourself.\n"
        "/stats: today and the last 7 days\n/check TEXT: how a text would be classified\n"
        "/reload: reload rules.yaml\n/help: this text",
        "ru": "smmbot следит за: {communities}.\n"
        "Карточки: отправить готовый ответ, удалить, забанить или пометить как нормальное; "
        "ответьте на карточку текстом, чтобы ответить клиенту самому.\n"
        "/stats — сегодня и за 7 дней\n/check ТЕКСТ — как бот оценит текст\n"
        "/reload — перечитать rules.yaml\n/help — эта справка",
    },
    "check-empty": {"en": "Usage: /check TEXT", "ru": "Использование: /check ТЕКСТ"},
    "check-result": {
        "en": "Labels: {labels}\nScores: {scores}\nReasons: {reasons}\n"
        "Would do: {actions} ({rule})",
        "ru": "Метки: {labels}\nОценки: {scores}\nПричины: {reasons}\n"
        "Действия: {actions} ({rule})",
    },
    "stats-period": {
        "en": "{title}: {messages} messages · spam {spam} · negative {negative} · "
        "questions {question}\nreplies {reply} · deleted {delete} · bans {ban} · "
        "escalations {escalate} · failed {failed}",
        "ru": "{title}: сообщений {messages} · спам {spam} · негатив {negative} · "
        "вопросы {question}\nответов {reply} · удалено {delete} · банов {ban} · "
        "эскалаций {escalate} · ошибок {failed}",
    },
    "stats-today": {"en": "Today", "ru": "Сегодня"},
    "stats-week": {"en": "7 days", "ru": "7 дней"},
    "stats-open": {"en": "Open escalations: {count}", "ru": "Открытых эскалаций: {count}"},
    "reminder": {
        "en": "⏰ Still waiting for a moderator ({age} min):",
        "ru": "⏰ Всё ещё ждёт модератора ({age} мин):",
    },
    "file-unreadable": {
        "en": "Cannot read {path}: {error}",
        "ru": "Не удалось прочитать {path}: {error}",
    },
    "report-title": {
        "en": "smmbot report · {start} – {end} (UTC days)",
        "ru": "Отчёт smmbot · {start} – {end} (дни по UTC)",
    },
    "report-all": {"en": "All communities", "ru": "Все сообщества"},
    "report-messages": {"en": "Messages: {count}", "ru": "Сообщений: {count}"},
    "report-moderation": {
        "en": "Spam removed: {removed} · users banned: {banned}",
        "ru": "Удалено спама: {removed} · забанено пользователей: {banned}",
    },
    "report-questions": {
        "en": "Questions: {count} · answered automatically {auto} · escalated {escalated} · "
        "left alone {unanswered}",
        "ru": "Вопросов: {count} · отвечено автоматически {auto} · "
        "передано модераторам {escalated} · оставлено без ответа {unanswered}",
    },
    "report-escalations": {
        "en": "Escalations: {count} · resolved {resolved} · median {median} · p90 {p90}",
        "ru": "Эскалаций: {count} · решено {resolved} · медиана {median} · p90 {p90}",
    },
    "report-response": {
        "en": "First response: median {median} ({count} messages)",
        "ru": "Первый ответ: медиана {median} (сообщений: {count})",
    },
    "report-response-hours": {
        "en": "  in business hours {inside} · out of hours {outside}",
        "ru": "  в рабочее время {inside} · в нерабочее {outside}",
    },
    "report-negative": {
        "en": "Negative: {share} · trend {trend}",
        "ru": "Негатив: {share} · динамика {trend}",
    },
    "report-per-day": {"en": "Per day", "ru": "По дням"},
    "report-day": {"en": "day", "ru": "день"},
    "report-removed": {"en": "removed", "ru": "удалено"},
    "report-banned": {"en": "banned", "ru": "забанено"},
    "report-auto": {"en": "auto", "ru": "авто"},
    "report-escalated": {"en": "escalated", "ru": "эскалировано"},
    "report-resolved": {"en": "resolved", "ru": "решено"},
    "report-first-response": {"en": "1st reply", "ru": "1-й ответ"},
    "report-moderators": {"en": "Moderators", "ru": "Модераторы"},
    "report-moderator": {
        "en": "{name}: {resolved} resolved ({kinds}) · median {median} · {feedback} labels",
        "ru": "{name}: решено {resolved} ({kinds}) · медиана {median} · меток: {feedback}",
    },
    "report-nobody": {"en": "nobody", "ru": "никто"},
    "report-unanswered": {
        "en": "Questions nobody answered yet (grouped by {embedder})",
        "ru": "Вопросы, на которые ещё никто не ответил (сгруппированы: {embedder})",
    },
    "report-group": {"en": "{count} × {keywords}", "ru": "{count} × {keywords}"},
    "report-stub-reply": {
        "en": "TODO: write the answer",
        "ru": "TODO: напишите ответ",
    },
    "report-none": {"en": "none", "ru": "нет"},
    "report-written": {"en": "Written: {path}", "ru": "Записано: {path}"},
    "report-no-database": {
        "en": "No database at {path}. Name one with --database FILE or SMMBOT_DATABASE_URL; "
        "smmbot demo leaves its own in smmbot-demo.db.",
        "ru": "Базы данных {path} нет. Укажите её: --database ФАЙЛ или SMMBOT_DATABASE_URL; "
        "smmbot demo оставляет свою в smmbot-demo.db.",
    },
    "report-bad-period": {
        "en": "Bad period: {error}",
        "ru": "Неверный период: {error}",
    },
    "report-chart-labels": {
        "en": "Messages by label per day",
        "ru": "Сообщения по меткам за день",
    },
    "report-chart-response": {
        "en": "Time to first response",
        "ru": "Время до первого ответа",
    },
    "report-chart-negative": {"en": "Negative share per day", "ru": "Доля негатива по дням"},
    "report-community": {"en": "community", "ru": "сообщество"},
}


def t(key: str, language: str, /, **values: object) -> str:
    """A text in a language (English when that language lacks it), with values filled in."""
    entry = TEXTS[key]
    template = entry.get(language) or entry["en"]
    return template.format(**values) if values else template
