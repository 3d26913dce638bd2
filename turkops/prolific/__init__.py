"""Prolific: its REST API v1 client (httpx), request shapes, pricing and the provider."""
