"""branchgate host tools: build, flash, provision and check branchgate IPsec appliances."""
__version__ = "0.1.0"
