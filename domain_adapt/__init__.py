"""Sim→real image translation and gap metrics (planned: domain adaptation issue)."""
