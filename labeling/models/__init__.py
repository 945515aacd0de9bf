"""The labeling app's models, one module per room; all re-exported here (app label ``labeling``)."""
from .examples import Example, ImportJob, Label
from .export import SFTExport
from .protocol import CaptureJob, ProtocolVersion
from .review import Review, ReviewItem
from .runs import ENV_NAME_VALIDATOR, Granularity, LabelFailure, LabelingRun, PromptVersion, Teacher

__all__ = ["ENV_NAME_VALIDATOR", "CaptureJob", "Example", "Granularity", "ImportJob", "Label", "LabelFailure", "LabelingRun",
           "PromptVersion", "ProtocolVersion", "Review", "ReviewItem", "SFTExport", "Teacher"]
