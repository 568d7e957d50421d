"""Accumulators over the network's outputs (:class:`~.base.Accumulator`).

IS and its protocols, its uncertainty and diagnostics, each a small accumulator.

This package imports nothing on its own, so that importing one of its modules stays cheap.
"""
