"""Run: stage context and artifact catalog, the stages, the papermill pipeline, run store and verification, and the
CLI. The top layer.
"""
