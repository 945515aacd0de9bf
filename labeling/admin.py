"""The admin of every room (Django imports this module; each room registers its own)."""
from .examples import admin as examples_admin  # noqa: F401
from .export import admin as export_admin  # noqa: F401
from .protocol import admin as protocol_admin  # noqa: F401
from .review import admin as review_admin  # noqa: F401
from .runs import admin as runs_admin  # noqa: F401
