"""Shared fixtures; each support module below is a pytest plugin of its own."""

pytest_plugins = [
    "tests.support.databases",
    "tests.support.catalogue",
    "tests.support.logging_state",
]
