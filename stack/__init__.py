"""The RAG gateway: authenticated, cited, audited answers over a private knowledge base (runs on the GPU hosts)."""
