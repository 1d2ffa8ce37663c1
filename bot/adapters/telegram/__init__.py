"""The Telegram adapter: the only code that knows aiogram and the Bot API.

- `mapping.to_incoming` turns an update into an `IncomingMessage` (pure);
- `client.build_bot` makes the `Bot` (API base, rate limits, bounded retries);
- `actions.TelegramActions` performs planned actions on Telegram messages;
- `moderators.TelegramModeratorsChat` posts and updates escalation cards (any platform);
- `runner.TelegramRunner` polls, feeding the `Intake` and the `ModeratorDesk`.
"""
