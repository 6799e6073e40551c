"""Reports: figures and tables for people. Uses every domain layer, never run."""
