"""Training: the configuration, the schedule, the loop, checkpoints and logs."""
from .config import TrainingConfig, load_training_config
from .run import RunSettings
from .trainer import RunResult, SetupError, Trainer

__all__ = ["RunResult", "RunSettings", "SetupError", "Trainer", "TrainingConfig", "load_training_config"]
