"""sepsis-alert: the command line and the runtime plumbing shared by every worker."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sepsis-alert")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+local"
