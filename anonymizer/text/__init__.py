"""Free text: what identifies a person in it, and cleaning it."""
