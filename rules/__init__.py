"""The domain of 医保个人账户家庭共济: people, family accounts, bindings, settlement, ledger.

Nothing in this package knows a chat exists; it never imports ``telegram``.
"""
