"""What a run leaves as evidence: the manifest, the verifier, the report."""
