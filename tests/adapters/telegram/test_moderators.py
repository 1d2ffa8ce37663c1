"""Escalation cards: HTML rendering, links for both platforms, callback data."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from aiogram.types import Message

from bot.adapters.telegram.moderators import (
    callback_data,
    card_token,
    original_link,
    parse_callback,
    render_card,
    shorten,
)
from bot.core.model import ChatRef, IncomingMessage, Platform, Surface, UserRef
from bot.core.ports import ModeratorChoice
from tests.fakes.telegram import make_card

GROUP = -1001234567890


def message(**fields: object) -> IncomingMessage:
    base = IncomingMessage(
        platform=Platform.TELEGRAM,
        event_key="tg:1:2",
        community="Shop <chat>",
        chat=ChatRef(Platform.TELEGRAM, GROUP),
        message_id=42,
        author=UserRef(Platform.TELEGRAM, 1001, "Алиса & Co", username="alice_p"),
        text="Это <ужас> & кошмар",
        date=datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def test_render_card_escapes_and_links_everything() -> None:
    text = render_card(make_card(message()), "ru").text
    assert "Shop &lt;chat&gt;" in text
    assert "<blockquote>Это &lt;ужас&gt; &amp; кошмар</blockquote>" in text
    assert '<a href="https://t.me/alice_p">Алиса &amp; Co</a> (@alice_p)' in text
    assert '<a href="https://t.me/c/1234567890/42">Открыть сообщение</a>' in text
    assert "негатив 0.91" in text and "спам 0.12" in text
    assert "stop word: &lt;ужас&gt;" in text
    assert "Доставка занимает 2–5 дней" in text
    assert "<code>esc:tok123</code>" in text


def test_render_card_in_english_without_username_or_suggestion() -> None:
    author = UserRef(Platform.TELEGRAM, 1002, "Bob")
    card = make_card(message(author=author), suggested=None)
    rendered = render_card(card, "en")
    assert '<a href="tg://user?id=1002">Bob</a>' in rendered.text
    assert "Suggested reply" not in rendered.text
    buttons = [b.callback_data for row in rendered.markup.inline_keyboard for b in row]
    assert buttons == ["esc:tok123:delete", "esc:tok123:ban", "esc:tok123:fine"]


def test_comment_links_carry_the_thread() -> None:
    comment = message(surface=Surface.CHANNEL_COMMENT, thread_id=600)
    assert original_link(comment) == "https://t.me/c/1234567890/42?thread=600"
    assert original_link(message(chat=ChatRef(Platform.TELEGRAM, -4000123))) is None


@pytest.mark.parametrize(
    ("surface", "link"),
    [
        (Surface.WALL_COMMENT, "https://vk.com/wall-77_15?reply=42"),
        (Surface.BOARD_COMMENT, "https://vk.com/topic-77_15?post=42"),
        (Surface.PHOTO_COMMENT, "https://vk.com/photo-77_15"),
        (Surface.PRIVATE, "https://vk.com/gim77?sel=5005"),
    ],
    ids=["wall", "board", "photo", "private"],
)
def test_vk_cards_render_with_vk_links(surface: Surface, link: str) -> None:
    vk = message(
        platform=Platform.VK,
        chat=ChatRef(Platform.VK, 77),
        author=UserRef(Platform.VK, 5005, "Иван"),
        surface=surface,
        thread_id=15,
    )
    text = render_card(make_card(vk), "ru").text
    assert '<a href="https://vk.com/id5005">Иван</a>' in text
    assert f'<a href="{link}">' in text


def test_shorten_cuts_long_text_at_a_word_and_escapes_after() -> None:
    long = "слово " * 200 + "<b>"
    short = shorten(long)
    assert len(short) <= 700 and short.endswith("слово…")
    text = render_card(make_card(message(text="&" * 1000)), "en").text
    assert "&amp;" * 699 + "…" in text  # cut before escaping: no broken entity


def test_callback_data_round_trips_and_is_bounded() -> None:
    data = callback_data("tok123", ModeratorChoice.SEND_SUGGESTED)
    assert parse_callback(data) == ("tok123", ModeratorChoice.SEND_SUGGESTED)
    assert parse_callback("esc:tok:explode") is None
    assert parse_callback("other:tok:ban") is None
    with pytest.raises(ValueError, match="too long"):
        callback_data("x" * 60, ModeratorChoice.BAN)


def test_card_token_is_found_without_the_keyboard() -> None:
    shape = {"message_id": 9, "date": 1764160000, "chat": {"id": -100, "type": "supergroup"}}
    resolved = Message.model_validate({**shape, "text": "Card\nesc:tok-42_x\n✅ Done"})
    assert card_token(resolved) == "tok-42_x"
    assert card_token(Message.model_validate({**shape, "text": "hello"})) is None
    assert card_token(None) is None
