"""Quality service: Validation, scores, moderation gate, KPI and steward ratings."""
