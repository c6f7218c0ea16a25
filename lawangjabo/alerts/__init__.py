"""Alerts: rules, the alert book and webhook delivery."""
