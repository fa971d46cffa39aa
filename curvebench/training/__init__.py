"""Training of curvebench's embedded reference models."""
