"""kb: an offline knowledge base for PyTorch users."""

__version__ = "0.1.0"
