"""Burned-in annotations: pixel rules, redaction on every frame, lossless re-encoding, text detection.

``rules`` parses and matches rules, ``codec`` decodes and stores pixel data, ``redact``
applies a profile's policy to one object; ``views``, ``detect``, ``loop`` and ``certify``
(imported only when an object is examined) find text lines and run the closed
redaction loop that certifies an object clean or sends it to quarantine.
"""
