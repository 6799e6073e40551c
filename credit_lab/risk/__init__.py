"""Risk control: Basel/Vasicek formulas, expected loss, IFRS 9 provisions, mitigation, the loss distribution,
concentration and stress. Uses models and below.
"""
