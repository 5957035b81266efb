"""The FAQ knowledge base and its matcher. Pure: no Telegram, no database.

``load_knowledge()`` reads and validates ``knowledge/faq/*.yaml``; ``Matcher(kb, …).ask(q)``
answers a question (see ``docs/architecture.md``).
"""

from knowledge.kb import Entry, KnowledgeBase, KnowledgeError, load_knowledge
from knowledge.matcher import Answer, Matcher, Suggestion

__all__ = ["Answer", "Entry", "KnowledgeBase", "KnowledgeError", "Matcher", "Suggestion",
           "load_knowledge"]
