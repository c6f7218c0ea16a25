"""Cameras: registry, capture, image checks, the poller, snapshots, the health ledger."""
