"""Everything that touches pydicom's internals: reading, encoding, raw text, VRs, tags, traversal."""
