"""Anything that can be scored -> batches of uint8 images with their indexes (:class:`~.base.Batch`).

This package imports nothing on its own, so that importing one of its modules stays cheap.
"""
