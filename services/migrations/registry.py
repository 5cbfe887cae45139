"""Imports every ORM module so Base.metadata is complete (Alembic, create_all)."""

from services.audit import orm as _audit  # noqa: F401
from services.complaints import orm as _complaints  # noqa: F401
from services.core.db import Base
from services.devices import orm as _devices  # noqa: F401
from services.events import orm as _events  # noqa: F401
from services.gate import orm as _gate  # noqa: F401
from services.imagestore import orm as _images  # noqa: F401
from services.imports import orm as _imports  # noqa: F401
from services.inspection import orm as _inspection  # noqa: F401
from services.metrics import orm as _metrics  # noqa: F401
from services.registry import orm as _registry  # noqa: F401
from services.review import orm as _review  # noqa: F401
from services.rework import orm as _rework  # noqa: F401
from services.security import orm as _security  # noqa: F401
from services.traceability import orm as _traceability  # noqa: F401

metadata = Base.metadata
