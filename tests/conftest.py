"""Suite-wide guards: no model hub, no network but loopback (pytest-socket, see pyproject)."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
