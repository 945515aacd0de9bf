"""Runs room: teachers, prompt versions, labeling runs and the offline baseline."""
