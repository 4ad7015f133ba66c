"""snowdays: snow cover duration maps kept up to date as Theia snow products arrive."""

from importlib.metadata import version as _version

__version__ = _version("snowdays")
__all__ = ["__version__"]
