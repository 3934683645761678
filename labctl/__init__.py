"""labctl: instrument control and acquisition for preclinical thermal therapy and imaging."""

__version__ = "0.1.0"
