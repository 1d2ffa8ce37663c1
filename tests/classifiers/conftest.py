"""The encoder tests' model folders (a tiny random XLM-R, the real e5) serve these tests too."""

from tests.encoder.conftest import e5_folder, tiny_folder

__all__ = ["e5_folder", "tiny_folder"]
