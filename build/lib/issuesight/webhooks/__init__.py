"""Inbound GitHub webhooks: signature verification and tolerant, hostile-input-safe parsing.

Framework-free so the security-critical part can be tested without an HTTP stack; the FastAPI
route only moves headers and the raw body in and maps the two exceptions to status codes.
"""
