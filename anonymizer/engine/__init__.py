"""Compile a profile into a plan once; apply it to one dataset."""
