"""The real/bogus classifier and its life: labelled samples from injections, the CNN,
training with the promotion gate, the MLflow registry, drift checks and evaluation.
"""
