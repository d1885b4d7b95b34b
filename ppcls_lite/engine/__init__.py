"""Training engine: trainer, evaluator, checkpoints, logging, distributed helpers, AMP and EMA."""
