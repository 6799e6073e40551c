"""Limits: profit model and exact optimizer, limit rules, the review (signals, backtest, calendar, adjustment,
approvals) and letters. Uses risk, models and below.
"""
