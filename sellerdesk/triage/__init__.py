"""Triage: suggested tags, kind and team for incoming conversations (issue 8)."""
