"""Incidents: the store and its lifecycle, history, import/export, analytics, coverage."""
