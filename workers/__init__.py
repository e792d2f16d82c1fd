"""Dramatiq broker set-up, middleware and actors."""
