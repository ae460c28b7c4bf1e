"""Periodic jobs and their schedules."""
