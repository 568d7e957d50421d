"""One pass: plan the work, feed the accumulators, add ranks and shards, save and resume (:func:`~.pipeline.run`).

This package imports nothing on its own, so that importing one of its modules stays cheap.
"""
