"""Core: typed run parameters, the error classes and small helpers every layer may use. Imports nothing from credit_lab
above it.
"""
