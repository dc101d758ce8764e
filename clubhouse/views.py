"""Kept for imports that predate clubhouse/pages.py, where the web client's pages live."""

from clubhouse.pages import home

__all__ = ["home"]
