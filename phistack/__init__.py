"""The phistack command: a thin layer over infra/, compliance/ and stack/."""

__version__ = "0.1.0"
