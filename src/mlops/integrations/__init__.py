"""Hooks into training frameworks (mlx-lm) that log to a project with no code change."""
