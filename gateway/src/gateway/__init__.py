"""API gateway: routing to the services, identity (users, memberships, API tokens, signing keys),
CORS, rate limits, merged OpenAPI."""
