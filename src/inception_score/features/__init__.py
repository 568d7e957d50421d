"""uint8 images -> the network's outputs by name (:class:`~.network.InceptionOutput`).

Preprocessing, the 2015 graph, its weights, the runner (precision, compile), the cache.

This package imports nothing on its own, so that importing one of its modules stays cheap.
"""
