"""Frozen feature extractors whose outputs are computed once and cached on disk."""
