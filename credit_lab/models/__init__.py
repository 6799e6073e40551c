"""Models: PD estimators (GBM, WoE scorecard, segmented/champion), calibration, validation statistics, explanations and
fast exact SHAP. Uses features, data and core.
"""
