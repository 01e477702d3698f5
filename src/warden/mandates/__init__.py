"""Mandates: bind every action to the human intent that started the workflow."""
