"""Telegram and console adapters: parse the message, call a service, render the reply."""
