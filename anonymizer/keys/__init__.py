"""The project key and the vault: the only modules that import cryptography."""
