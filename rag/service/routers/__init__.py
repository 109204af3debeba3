"""The service's routes by kind: the library, answers, OpenAI-compatible chat, operations."""
