"""Accounts: users and their roles, API keys, quotas, unlocks, the audit trail, the write rate
limit and the global LLM token budget. The domain and its storage; the HTTP side is
`issuesight.api.auth`."""
