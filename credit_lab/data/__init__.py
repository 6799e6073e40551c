"""Data: the data contract, readers with column mapping, ERP-export rules, table mode and the synthetic ledger. Uses
only credit_lab.core.
"""
