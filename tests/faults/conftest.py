"""The fault tests use the browser of the end-to-end tests."""

from ..e2e.conftest import browser  # noqa: F401 - a fixture, found by name
