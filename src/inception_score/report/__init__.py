"""The result and its renderings: the one Result builder, text, JSON, the HTML report.

This package imports nothing on its own, so that importing one of its modules stays cheap.
"""
