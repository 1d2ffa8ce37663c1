"""Indexes for `smmbot report`: period scans of the inbox and covering joins by inbox id.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 15:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# name, table, columns
INDEXES = (
    # A report over every community scans a time range; community rides along for GROUP BY.
    ("ix_inbox_received_at_community", "inbox", ["received_at", "community"]),
    # Label and kind/state in the index let the joins be answered from the index alone.
    ("ix_decisions_inbox_id_label", "decisions", ["inbox_id", "label"]),
    ("ix_outbox_inbox_id_state_kind", "outbox", ["inbox_id", "state", "kind"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
