"""Unit tests for the rules-and-heuristics classifier, one group per check."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.rules import NegativeRules
from classifiers import HeuristicConfig, KeywordClassifier, Label, Sample, Score, load_stop_words
from classifiers.heuristics import Evidence, noisy_or

CONFIG = HeuristicConfig(
    stop_words=["заработок в интернете", "=спам", "в лuчные сообщенuя", "  ", "="],
    allowed_domains=["example.com"],
    blocked_domains=["bit.ly", "https://Spam.Example/"],
    max_emoji=5,
)
CLASSIFIER = KeywordClassifier(CONFIG)


def score(text: str, label: Label, classifier: KeywordClassifier = CLASSIFIER) -> Score:
    (scores,) = classifier.classify([Sample(text)])
    return next(s for s in scores if s.label == label)


def spam(text: str) -> Score:
    return score(text, Label.SPAM)


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("Лучший ЗАРАБОТОК В ИНТЕРНЕТЕ", "stop-word: заработок в интернете"),
        ("зaрaбoтoк в интep\u200bнете", "stop-word: заработок в интернете"),
        ("спам", "stop-word: спам"),
        ("пишите в личные сообщения", "stop-word: в личные сообщения"),
    ],
    ids=["casefolded", "homoglyphs-and-zero-width", "exact-message", "homoglyph-in-stop-word"],
)
def test_stop_word_is_a_hard_cue(text: str, detail: str) -> None:
    result = spam(text)
    assert detail in result.details
    assert result.score >= 0.85


@pytest.mark.parametrize(
    "text", ["это не спам", "сзаработок в интернете"], ids=["exact-needs-whole", "word-start"]
)
def test_stop_word_does_not_match_inside_other_text(text: str) -> None:
    assert not any(d.startswith("stop-word") for d in spam(text).details)


def test_load_stop_words_reads_one_phrase_per_line(tmp_path: Path) -> None:
    path = tmp_path / "stop-words.txt"
    path.write_text("в личку\n\n  пишите в лс  \n=привет\n", encoding="utf-8")
    assert load_stop_words(path) == ("в личку", "пишите в лс", "=привет")


def test_heuristic_config_accepts_lists_and_stays_hashable() -> None:
    config = HeuristicConfig(stop_words=["a"], allowed_domains=["b.com"])
    assert config.stop_words == ("a",)
    assert hash(config) == hash(HeuristicConfig(stop_words=("a",), allowed_domains=("b.com",)))


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("ссылка bit.ly/abc", "blocked-domain: bit.ly"),
        ("https://www.spam.example/x", "blocked-domain: spam.example"),
        ("sub.bit.ly/x", "blocked-domain: sub.bit.ly"),
    ],
    ids=["bare", "scheme-and-www", "subdomain"],
)
def test_blocked_domain_is_a_hard_cue(text: str, detail: str) -> None:
    result = spam(text)
    assert detail in result.details
    assert result.score >= 0.85


@pytest.mark.parametrize(
    "text",
    ["наш сайт https://shop.example.com/faq", "example.com", "www.EXAMPLE.com/a"],
    ids=["subdomain", "bare", "www-case"],
)
def test_allowed_domain_never_counts(text: str) -> None:
    assert spam(text).score == 0.0


def test_link_not_allowed_alone_stays_weak() -> None:
    result = spam("см. https://other.example/page")
    assert result.details == ("link-not-allowed: other.example",)
    assert result.score < 0.3


def test_link_not_allowed_several_links_count_more() -> None:
    one, three = spam("a.xyz"), spam("a.xyz b.top c.site")
    assert len(three.details) == 3
    assert one.score < three.score < 0.5


def test_link_not_allowed_reasons_are_capped_but_blocked_still_found() -> None:
    text = " ".join(f"site{i}.xyz" for i in range(20)) + " bit.ly/late"
    details = spam(text).details
    assert details[0] == "blocked-domain: bit.ly"
    assert sum(d.startswith("link-not-allowed") for d in details) == 8


def test_link_from_sample_counts_like_link_in_text() -> None:
    (scores,) = CLASSIFIER.classify([Sample("смотри", links=("https://bit.ly/hidden",))])
    assert "blocked-domain: bit.ly" in scores[0].details


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("Пишите в ЛС за подробностями", "dm-invitation: пишите в лс"),
        ("Детали в лс", "dm-invitation: детали в лс"),
        ("Интересно? Отправьте мне (+)", "dm-invitation: (+)"),
        ("write me in DM", "dm-invitation: write me"),
        ("PM me for details", "dm-invitation: pm me"),
        ("dm me", "dm-invitation: dm me"),
    ],
    ids=["ru-imperative", "ru-details", "ru-plus", "en-write", "en-pm", "en-dm"],
)
def test_dm_invitation_detected(text: str, detail: str) -> None:
    assert detail in spam(text).details


def test_dm_mention_without_invitation_is_weaker() -> None:
    mention, invitation = spam("бот умеет отвечать и в личку"), spam("пишите в личку")
    assert mention.details == ("dm-invitation: в личку",)
    assert mention.score < invitation.score < 0.85


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("жми @earn_bot", "bot-invitation: @earn_bot"),
        ("https://t.me/EarnMoneyBot?start=1", "bot-invitation: t.me/EarnMoneyBot"),
        ("Подпишись на канал!", "channel-invitation: подпишись на канал"),
        ("check out my channel", "channel-invitation: check out my channel"),
        ("t.me/+AbCdEf123", "channel-invitation: t.me/+AbCdEf123"),
        ("НАПИШИ В ПОИСКЕ ТЕЛЕГРАМА: QSK300", "channel-invitation: напиши в поиске"),
    ],
    ids=["bot-mention", "bot-link", "ru-channel", "en-channel", "private-invite", "search-code"],
)
def test_bot_or_channel_invitation_detected(text: str, detail: str) -> None:
    assert detail in spam(text).details


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        (
            "Subscribe to my YouTube channel!",
            "channel-invitation: subscribe to my youtube channel",
        ),
        ("follow me on instagram", "channel-invitation: follow me on instagram"),
        ("link in my bio", "channel-invitation: link in my bio"),
        ("Подписывайтесь на мой канал", "channel-invitation: подписывайтесь на мой канал"),
        ("заходите ко мне на страницу", "channel-invitation: заходите ко мне на страницу"),
    ],
    ids=["en-youtube", "en-follow-me", "en-bio", "ru-my-channel", "ru-my-page"],
)
def test_self_promotion_is_sent_for_review(text: str, detail: str) -> None:
    # A stranger advertising their own channel reaches review_threshold (0.6) but alone is
    # never deleted (0.85): a moderator decides.
    found = spam(text)
    assert detail in found.details
    assert 0.6 <= found.score < 0.85


def test_pointing_at_a_channel_without_my_stays_below_review() -> None:
    # "Subscribe to the channel" may well mean the brand's own channel.
    assert spam("Подпишись на канал!").score < 0.6


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("Заработок без вложений", "money-lure: заработок"),
        ("доход от 1000$ в день", "money-lure: 1000$ в день"),
        ("earn $500 fast", "money-lure: earn"),
        ("инвестиции в крипту", "money-lure: инвестиции"),
        ("Удалённая работа для всех", "money-lure: удаленная работа"),
        ("Нужен человек, 1-2 часа в день", "money-lure: нужен человек"),
        ("Нужен человек, 1-2 часа в день", "money-lure: 1-2 часа в день"),
        ("Text WIN to 80086 now", "money-lure: text win to 80086"),
        ("Ставим на тотал больше", "money-lure: ставим"),
    ],
    ids=[
        "earning",
        "per-day",
        "en-earn",
        "invest",
        "remote-work",
        "easy-job",
        "easy-job-hours",
        "premium-sms",
        "betting",
    ],
)
def test_money_lure_detected(text: str, cue: str) -> None:
    assert cue in spam(text).details


@pytest.mark.parametrize(
    "text",
    ["LTE заработал в сети", "Янукович решил выплатить вклады", "экспресс кредит"],
    ids=["started-working", "payout-news", "express-loan"],
)
def test_money_lure_ignores_ordinary_brand_talk(text: str) -> None:
    assert not any(d.startswith("money-lure") for d in spam(text).details)


def test_money_lures_add_up_but_one_stays_weak() -> None:
    assert spam("крипта").score < 0.5
    assert spam("доход от 1000$ в день").score > spam("крипта").score


def test_mixed_script_money_lure_is_a_hard_cue() -> None:
    result = spam("зaработок без вложений")
    assert "mixed-script: зaработок" in result.details
    assert "disguised-lure: зaработок" in result.details
    assert result.score >= 0.85


def test_mixed_script_without_lure_stays_below_threshold() -> None:
    result = spam("Оh boy")
    assert result.details == ("mixed-script: Оh",)
    assert result.score < 0.85


@pytest.mark.parametrize(
    ("text", "detail"),
    [("🔥" * 14, "emoji-flood: 14"), ("Привет 🔥🔥🔥🔥🔥 ok", None)],
    ids=["flood", "at-limit"],
)
def test_emoji_flood_over_max(text: str, detail: str | None) -> None:
    details = spam(text).details
    assert (detail in details) if detail else not any("emoji" in d for d in details)


@pytest.mark.parametrize(
    ("text", "fires"),
    [("СРОЧНО ВСЕМ ЧИТАТЬ ЭТО ОБЪЯВЛЕНИЕ", True), ("МТС и ВТБ", False), ("Normal text", False)],
    ids=["shouting", "acronyms", "normal"],
)
def test_caps_shouting_needs_long_upper_text(text: str, fires: bool) -> None:
    assert any(d.startswith("caps-shouting") for d in spam(text).details) == fires


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("звони +7 999 123-45-67", "contact-in-short-text: +7 999 123-45-67"),
        ("пиши @alina_ckls", "contact-in-short-text: @alina_ckls"),
    ],
    ids=["phone", "handle"],
)
def test_contact_in_short_text_detected(text: str, detail: str) -> None:
    assert detail in spam(text).details


def test_contact_in_long_text_is_ignored() -> None:
    text = "Я звонил на номер +7 999 123-45-67 " + "и ждал ответа " * 10
    assert not any(d.startswith("contact") for d in spam(text).details)


def test_shady_offer_detected() -> None:
    assert "shady-offer: фальшивые" in spam("Фальшивые купюры, доставка").details


@pytest.mark.parametrize(
    "text",
    [
        "Добрый день! Когда будет доставка в Казань?",
        "Спасибо, чай отличный",
        "Смотрите наш сайт example.com",
        "Купил iPhone вчера",
        "",
    ],
    ids=["question", "praise", "allowed-link", "brand", "empty"],
)
def test_spam_ordinary_messages_score_low(text: str) -> None:
    assert spam(text).score < 0.3


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("Где мой заказ?", "question-cue: где"),
        ("Сколько стоит доставка", "question-cue: сколько"),
        ("Кому писать по поводу возврата", "question-cue: кому"),
        ("Есть ли доставка в Казань", "question-cue: есть ли"),
        ("Подскажите режим работы", "request-cue: подскажите"),
        ("Не подскажете, как оплатить", "request-cue: не подскажете"),
        ("Хочу узнать про скидки", "request-cue: хочу узнать"),
        ("как оплатить картой", "question-cue: как"),
        ("А когда будет поставка", "question-cue: когда"),
        ("how do I reset my password", "question-cue: how"),
        ("what's the price", "question-cue: what"),
        ("Can I pay by card", "question-cue: can i"),
        ("Is there a store in London", "question-cue: is there"),
        ("I'd like to know the price", "request-cue: i'd like to know"),
        ("I need help with my order", "request-cue: i need help"),
    ],
    ids=[
        "ru-where",
        "ru-how-much",
        "ru-whom",
        "ru-li",
        "ru-request",
        "ru-polite",
        "ru-want",
        "ru-how-verb",
        "ru-when-will",
        "en-how",
        "en-contraction",
        "en-can-i",
        "en-is-there",
        "en-like-to-know",
        "en-help-me",
    ],
)
def test_question_cues_recognised_without_question_mark(text: str, cue: str) -> None:
    result = score(text, Label.QUESTION)
    assert cue in result.details
    assert result.score >= 0.5


def test_question_mark_alone_is_not_decisive() -> None:
    result = score("Ну вы даёте?", Label.QUESTION)
    assert result.details == ("question-mark",)
    assert result.score < 0.5


def test_question_mark_inside_link_is_ignored() -> None:
    assert score("смотри https://x.example/?a=1", Label.QUESTION).score == 0.0


@pytest.mark.parametrize(
    "text",
    [
        "Доставка сегодня в 12:00.",
        "Спасибо, всё пришло",
        "Он лучший, как произведение искусства",
        "Кто-то уже забрал заказ",
        "We shipped your order today",
        "",
    ],
    ids=["ru-fact", "ru-thanks", "ru-comparative-kak", "ru-kto-to", "en-statement", "empty"],
)
def test_question_statements_score_low(text: str) -> None:
    assert score(text, Label.QUESTION).score < 0.5


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("Это ужасно", "complaint-cue: ужасно"),
        ("Верните деньги!", "complaint-cue: верните деньги"),
        ("Приложение не работает", "complaint-cue: не работает"),
        ("Заказ так и не пришел", "complaint-cue: не пришел"),
        ("Terrible service", "complaint-cue: terrible"),
        ("This is a scam", "complaint-cue: scam"),
        ("still waiting for my refund", "complaint-cue: still waiting"),
        ("the app doesn't work", "complaint-cue: doesn't work"),
        ("Курьер опоздал на два часа", "complaint-cue: опоздал"),
        ("оператор мне нагрубил", "complaint-cue: нагрубил"),
        ("куртка развалилась после стирки", "complaint-cue: развалилась"),
        ("приложение вылетает при оплате", "complaint-cue: вылетает"),
        ("the courier was two hours late", "complaint-cue: hours late"),
        ("the jacket fell apart", "complaint-cue: fell apart"),
        ("the app keeps crashing", "complaint-cue: keeps crashing"),
        ("I want my money back", "complaint-cue: want my money back"),
        ("Не рекомендую этот магазин", "complaint-cue: не рекомендую"),
        ("больше никогда не закажу", "complaint-cue: больше никогда"),
        ("I wouldn't recommend this store", "complaint-cue: wouldn't recommend"),
        ("really poor customer service", "complaint-cue: poor customer service"),
    ],
    ids=[
        "ru-awful",
        "ru-refund",
        "ru-broken",
        "ru-not-arrived",
        "en-terrible",
        "en-scam",
        "en-waiting",
        "en-doesnt-work",
        "ru-late",
        "ru-rude",
        "ru-fell-apart",
        "ru-app-crash",
        "en-late",
        "en-fell-apart",
        "en-app-crash",
        "en-money-back",
        "ru-not-recommend",
        "ru-never-again",
        "en-not-recommend",
        "en-poor-service",
    ],
)
def test_complaint_cue_detected(text: str, cue: str) -> None:
    assert cue in score(text, Label.NEGATIVE).details


@pytest.mark.parametrize(
    "text",
    ["это не плохо", "not bad at all", "доставили без проблем", "неплохой чай"],
    ids=["ru-not-bad", "en-not-bad", "ru-no-problems", "ru-neplokho"],
)
def test_negated_complaint_does_not_count(text: str) -> None:
    assert score(text, Label.NEGATIVE).score == 0.0


def test_two_complaint_cues_cross_negative_threshold() -> None:
    assert score("Ужасный сервис, верните деньги", Label.NEGATIVE).score >= 0.6


@pytest.mark.parametrize(
    "text",
    ["the app doesn't work and support is rude", "приложение не работает, поддержка игнорирует"],
    ids=["en", "ru"],
)
def test_two_ordinary_complaint_cues_reach_the_default_rules_threshold(text: str) -> None:
    # rules.yaml's negative threshold defaults to 0.7, stricter than the cascade's 0.6.
    found = score(text, Label.NEGATIVE)
    assert len(found.details) == 2
    assert found.score >= NegativeRules().threshold


@pytest.mark.parametrize(
    "text",
    ["The courier was two hours late and rude", "Курьер опоздал на два часа и нагрубил"],
    ids=["en", "ru"],
)
def test_late_and_rude_courier_crosses_negative_threshold(text: str) -> None:
    assert score(text, Label.NEGATIVE).score >= 0.6


def test_asking_how_to_get_money_back_is_not_a_complaint() -> None:
    # A question about a refund is not a demand for one: banking customers ask it calmly.
    assert (
        score("How can I get my money back for a payment I didn't make?", Label.NEGATIVE).score
        < 0.6
    )


@pytest.mark.parametrize(
    ("text", "detail"),
    [("опять опоздали 😡", "negative-emoji: 😡"), ("заказ потеряли((", "sad-smiley: ((")],
    ids=["angry-emoji", "brackets"],
)
def test_negative_tone_detected(text: str, detail: str) -> None:
    assert detail in score(text, Label.NEGATIVE).details


def test_intensity_alone_stays_weak() -> None:
    result = score("УРА, ПОСЫЛКА УЖЕ ПРИШЛА!!!", Label.NEGATIVE)
    assert set(result.details) == {"exclamation", "caps-shouting: 100%"}
    assert result.score < 0.5


@pytest.mark.parametrize(
    ("weights", "expected"),
    [((), 0.0), ((0.5,), 0.5), ((0.5, 0.5), 0.75), ((1.0, 1.0), 0.99), ((-1.0, 2.0), 0.99)],
    ids=["none", "one", "two", "capped", "clamped"],
)
def test_noisy_or_combines_and_caps(weights: tuple[float, ...], expected: float) -> None:
    assert noisy_or(Evidence("x", "", w) for w in weights) == expected


def test_classify_returns_three_labels_in_order_with_reasons_sorted() -> None:
    (scores,) = CLASSIFIER.classify([Sample("зaработок, пишите в лс")])
    assert [s.label for s in scores] == [Label.SPAM, Label.QUESTION, Label.NEGATIVE]
    assert all(s.classifier == "heuristics" and s.ok for s in scores)
    assert scores[0].details[0].startswith("disguised-lure")


def test_classify_isolates_a_failing_sample() -> None:
    bad = Sample(text=None)  # type: ignore[arg-type]
    good, broken = CLASSIFIER.classify([Sample("пишите в лс"), bad])
    assert all(s.ok for s in good) and good[0].score > 0
    assert [s.label for s in broken] == [Label.SPAM, Label.QUESTION, Label.NEGATIVE]
    assert all(s.error and s.error.startswith("TypeError") and s.score == 0.0 for s in broken)
