"""Burned-in annotations: pixel rules, redaction on every frame, lossless re-encoding, OCR.

``rules`` parses and matches rules, ``codec`` decodes and stores pixel data, ``redact``
applies a profile's policy to one object, ``ocr`` locates text lines (extra ``[ocr]``).
"""
