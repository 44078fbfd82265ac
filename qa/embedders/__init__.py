"""Embedding backends behind :class:`qa.embeddings.Embedder`, one module each.

``torch_backend`` runs sentence-transformers on torch; ``onnx_backend`` runs an ONNX
export (fp32 or int8) with onnxruntime and ``tokenizers`` only; ``onnx_export`` makes
that export once per machine. Pick one with :func:`qa.embeddings.get_embedder`.
"""
