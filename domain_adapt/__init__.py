"""Sim→real image translation (training-free and learned adapters) and the sim-to-real gap measures."""
