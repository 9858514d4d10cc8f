"""ghsa-bot: the machinery (web intake, store, worker, GitHub client), nothing team-specific."""
