"""A storefront simulator: generated worlds of shoppers with known ground truth (``world``), used to
evaluate models and, later, to drive the public tracking API for demos and benchmarks."""
