"""torchmetrics Metric classes: absolute loss, Δℓ curves and the paper's regions."""
