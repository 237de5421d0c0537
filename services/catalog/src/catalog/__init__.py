"""Catalog service: Organizations, datasets and their passports, the dataset register, moderation, search, news."""
