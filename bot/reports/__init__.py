"""`smmbot report`: what the bot and the moderators did, per community and day.

Aggregation runs in SQL (`queries`), the numbers live in frozen dataclasses (`model`), and the
renderers (`text`, `html`, `csv`) only format them. Nothing here knows a platform.
"""
