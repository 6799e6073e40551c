"""Features: point-in-time customer features for any set of snapshots, and the feature dictionary. Uses data and core.
"""
