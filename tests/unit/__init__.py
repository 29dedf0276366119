"""Tests with no server: no Temporal, no database, no network (`make unit`, seconds)."""
