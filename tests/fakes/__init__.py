"""Test doubles that run as real network servers on 127.0.0.1."""
