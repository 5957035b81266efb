"""Revision scripts (named NNNN_description.py)."""
